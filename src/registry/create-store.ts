/**
 * Picks the registry store from the configuration: Redis when `registry.store`
 * says so or any Redis target is configured (DESIGN §3: "any one of them selects
 * Redis"), else the embedded memory store.
 */
import type { Clock } from '../clock.js';
import type { WaypostConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { StoreOptions } from './lease.js';
import { MemoryStore } from './memory-store.js';
import { RedisStore } from './redis-store.js';
import type { RegistryStore, SweepResult } from './store.js';

export interface CreateStoreDeps {
  logger: Logger;
  /** Memory store only: Redis judges leases on its own clock. */
  clock?: Clock;
  onSweep?: (result: SweepResult) => void;
}

export function usesRedis(config: WaypostConfig): boolean {
  const { redis } = config;
  return config.registry.store === 'redis' || redis.url !== '' || redis.sentinels.length > 0 || redis.cluster.length > 0;
}

export function createStore(config: WaypostConfig, deps: CreateStoreDeps): RegistryStore {
  const { registry } = config;
  const options: StoreOptions = {
    defaultTtlSeconds: Math.max(1, Math.round(registry.ttl / 1000)),
    selfPreservation: registry.selfPreservation,
    selfPreservationMinInstances: registry.selfPreservationMinInstances,
    sweepIntervalMs: registry.sweepInterval,
    maxInstancesPerService: registry.maxInstancesPerService,
    logger: deps.logger,
    ...(deps.onSweep ? { onSweep: deps.onSweep } : {}),
  };
  if (usesRedis(config)) return new RedisStore({ ...options, redis: config.redis });
  return new MemoryStore({ ...options, ...(deps.clock ? { clock: deps.clock } : {}) });
}
