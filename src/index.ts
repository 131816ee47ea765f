/**
 * The package's programmatic API: the registry client for self-registration and
 * client-side discovery, and the building blocks for embedding a proxy.
 */
export * from './client/index.js';
export { Sidecar } from './sidecar/sidecar.js';
export { Registrar } from './sidecar/registrar.js';
export { WaypostApp, startProxy } from './app.js';
export { loadConfig } from './config/load.js';
export type { WaypostConfig } from './config/schema.js';
export { WaypostError, ErrorCodes, type ErrorCode } from './errors.js';
export type { InstanceRecord, InstanceStatus, RegistrationInput } from './types.js';
