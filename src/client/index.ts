/** The Node client of the Waypost registry (also exported from the package root). */
export {
  RegistryClient,
  type RegistryClientOptions,
  type ServiceView,
  type ServiceInstance,
  type ServiceSummary,
  type InstanceHealth,
  type Watch,
  type WatchOptions,
} from './registry-client.js';
export { Registration, type RegistrationEvents, type RegistrationOptions } from './registration.js';
export type { RegistrationTarget, TargetService } from './target.js';
export type { BackoffOptions } from './backoff.js';
