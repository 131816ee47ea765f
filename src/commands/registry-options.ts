/**
 * `--registry URL | --redis URL [--token T]`, shared by the commands that read or
 * change the registry from outside a proxy: through a proxy's admin API, or
 * straight at Redis.
 */
import { Option, type Command } from 'commander';
import { RegistryClient, type ServiceSummary } from '../client/registry-client.js';
import { configError } from '../errors.js';
import { DEFAULT_REGISTRY_URL, registryFlagConflict } from '../sidecar/flags.js';
import { silentLogger } from '../log.js';
import { loadConfig } from '../config/load.js';
import { createStore } from '../registry/create-store.js';
import type { RegistryStore, StoredRoute } from '../registry/store.js';
import { checkRouteId, parseRouteBody } from '../registry/routes.js';
import { registryRouteListing, type RouteListing } from '../routing/live-router.js';
import type { InstanceRecord } from '../types.js';

export interface RegistryFlags {
  registry?: string;
  redis?: string;
  token?: string;
}

export function addRegistryOptions(command: Command): Command {
  return command
    .addOption(new Option('--registry <url>', 'admin API of a running proxy').env('WAYPOST_REGISTRY').default(DEFAULT_REGISTRY_URL))
    .addOption(new Option('--redis <url>', 'talk to the Redis registry directly instead (default: off)').env('WAYPOST_REDIS_URL'))
    .addOption(new Option('--token <token>', 'admin token for mutations (default: none)').env('WAYPOST_ADMIN_TOKEN'))
    .hook('preAction', (self) => chooseRegistry(self));
}

/**
 * --registry has a default, so "both given" needs the value sources: both as flags (or both
 * as variables) is ambiguous, as `register` says; a flag beats a variable (flag > env).
 */
function chooseRegistry(command: Command): void {
  if (command.getOptionValue('redis') === undefined) return;
  const registry = command.getOptionValueSource('registry');
  const redis = command.getOptionValueSource('redis');
  if (registry === 'cli' && redis === 'cli') throw registryFlagConflict();
  if (registry === 'env' && redis === 'env') {
    throw configError('WAYPOST_REGISTRY', 'cannot be set together with WAYPOST_REDIS_URL; unset one, or choose with --registry URL or --redis URL');
  }
  if (registry === 'cli') command.setOptionValueWithSource('redis', undefined, 'cli');
}

/** What the read/deregister commands need, whichever way the registry is reached. */
export interface RegistryAccess {
  listServices(): Promise<ServiceSummary[]>;
  getInstances(service: string): Promise<readonly (InstanceRecord & { health?: string })[]>;
  deregister(service: string, id: string): Promise<boolean>;
  /** Through Redis: API and declared routes only (config routes live in each proxy's file). */
  listRoutes(): Promise<RouteListing>;
  putRoute(id: string, route: Readonly<Record<string, unknown>>): Promise<StoredRoute>;
  deleteRoute(id: string): Promise<boolean>;
  close(): Promise<void>;
}

export async function openRegistry(flags: RegistryFlags): Promise<RegistryAccess> {
  if (flags.redis) return openStore(flags.redis);
  let url: URL;
  try {
    url = new URL(flags.registry ?? DEFAULT_REGISTRY_URL);
  } catch {
    throw configError('--registry', `expected an http(s) URL, got "${flags.registry}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw configError('--registry', `expected an http(s) URL, got "${flags.registry}"`);
  }
  const client = new RegistryClient({ url: url.toString().replace(/\/$/, ''), token: flags.token });
  return {
    listServices: () => client.listServices(),
    getInstances: async (service) => (await client.getService(service)).instances,
    deregister: (service, id) => client.deregister(service, id),
    listRoutes: () => client.listRoutes(),
    putRoute: (id, route) => client.putRoute(id, route),
    deleteRoute: (id) => client.deleteRoute(id),
    close: () => client.close(),
  };
}

async function openStore(redisUrl: string): Promise<RegistryAccess> {
  const config = loadConfig({ flags: [{ path: ['redis', 'url'], value: redisUrl, flag: '--redis' }] });
  const store: RegistryStore = createStore(config, { logger: silentLogger });
  await store.start();
  return {
    async listServices() {
      const counts = await store.listServices();
      return Promise.all(
        counts.map(async ({ name, instances }) => {
          const state = await store.getService(name);
          return { name, instances, healthy: state.instances.filter((i) => i.status === 'UP').length };
        }),
      );
    },
    getInstances: async (service) => (await store.getService(service)).instances,
    deregister: (service, id) => store.deregister(service, id),
    listRoutes: async () => registryRouteListing(await store.state()),
    // No admin API validates on this path: the same check runs here.
    putRoute: async (id, route) => (await store.putRoute(checkRouteId(id, 'ID'), parseRouteBody(route))).route,
    deleteRoute: (id) => store.deleteRoute(id),
    close: () => store.close(),
  };
}

/** Open, run, always close. */
export async function withRegistry<T>(flags: RegistryFlags, fn: (registry: RegistryAccess) => Promise<T>): Promise<T> {
  const registry = await openRegistry(flags);
  try {
    return await fn(registry);
  } finally {
    await registry.close();
  }
}
