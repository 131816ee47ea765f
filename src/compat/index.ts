/**
 * The registry compatibility APIs (config `compat: { eureka, consul }`), as
 * handlers for AdminServer's `extraHandlers`:
 *
 *   const compat = compatHandlers({ config, store, mirror, logger });
 *   new AdminServer({ ..., extraHandlers: compat.handlers });
 *   // on shutdown, after the admin server: compat.close();
 *
 * Both use the admin listener's token (also as `X-Consul-Token` / `?token=` on
 * Consul paths, and as the password of Basic auth on Eureka paths), its CIDR
 * allow-list and its body limit.
 */
import { TokenGuard } from '../admin/auth.js';
import type { OwnListeners } from '../admin/self-loop.js';
import { RegistrationTargets } from '../admin/targets.js';
import type { AdminHandler } from '../admin/server.js';
import { systemClock, type Clock } from '../clock.js';
import type { WaypostConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { RegistryMirror } from '../mirror/mirror.js';
import type { RegistryStore } from '../registry/store.js';
import { ConsulApi } from './consul/api.js';
import { EurekaApi } from './eureka/api.js';

export interface CompatDeps {
  config: WaypostConfig;
  store: RegistryStore;
  /** Must be started before the handlers are built (they read its snapshot). */
  mirror: RegistryMirror;
  logger: Logger;
  clock?: Clock;
  /** This proxy's listeners: no instance may be registered at one (as on the native API). */
  ownListeners?: OwnListeners;
}

export interface CompatHandlers {
  /** Empty when both compat APIs are off. */
  readonly handlers: readonly AdminHandler[];
  /** Stops Consul check timers and parked blocking queries; idempotent. */
  close(): void;
}

export function compatHandlers(deps: CompatDeps): CompatHandlers {
  const { config } = deps;
  const token = new TokenGuard(config.admin.token);
  const targets = new RegistrationTargets(config.admin.allowedCidrs, deps.ownListeners);
  const shared = { store: deps.store, mirror: deps.mirror, token, targets, maxBodyBytes: config.admin.maxBodyBytes, logger: deps.logger };
  const closers: (() => void)[] = [];
  const handlers: AdminHandler[] = [];
  if (config.compat.eureka) {
    const eureka = new EurekaApi(shared);
    handlers.push(eureka.handle);
    closers.push(() => eureka.close());
  }
  if (config.compat.consul) {
    const consul = new ConsulApi({
      ...shared,
      clock: deps.clock ?? systemClock,
      maxWaiters: config.admin.maxWaiters,
      leaseSeconds: Math.max(1, Math.round(config.registry.ttl / 1000)),
    });
    handlers.push(consul.handle);
    closers.push(() => consul.close());
  }
  let closed = false;
  return {
    handlers,
    close() {
      if (closed) return;
      closed = true;
      for (const close of closers) close();
    },
  };
}
