/**
 * A real admin server with the Eureka and Consul compat handlers, over a real
 * store (memory, or Redis when a URL is given) and mirror, on 127.0.0.1:0.
 */
import { AdminServer } from '../../src/admin/server.js';
import { compatHandlers, type CompatHandlers } from '../../src/compat/index.js';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { RegistryMirror } from '../../src/mirror/mirror.js';
import { createStore } from '../../src/registry/create-store.js';
import type { RegistryStore } from '../../src/registry/store.js';
import { call, type CallOptions, type Reply } from './admin-harness.js';

export interface CompatHarness {
  readonly port: number;
  readonly store: RegistryStore;
  readonly mirror: RegistryMirror;
  call(method: string, path: string, options?: CallOptions): Promise<Reply>;
  close(): Promise<void>;
}

export async function startCompat(options: { redisUrl?: string; config?: ConfigInput } = {}): Promise<CompatHarness> {
  const input: ConfigInput = {
    ...options.config,
    admin: { listen: '127.0.0.1:0', ...options.config?.admin },
    compat: { eureka: true, consul: true },
    ...(options.redisUrl ? { redis: { url: options.redisUrl } } : {}),
  };
  const config = configSchema.parse(input);
  const store = createStore(config, { logger: silentLogger });
  await store.start();
  const metrics = new Metrics({ processMetrics: false });
  const mirror = new RegistryMirror({ store, logger: silentLogger, metrics });
  await mirror.start();
  const compat: CompatHandlers = compatHandlers({ config, store, mirror, logger: silentLogger });
  const server = new AdminServer({ config, store, mirror, metrics, logger: silentLogger, extraHandlers: compat.handlers });
  const { port } = await server.listen();
  return {
    port,
    store,
    mirror,
    call: (method, path, callOptions) => call(port, method, path, callOptions),
    async close() {
      compat.close();
      await server.close();
      mirror.close();
      await store.close();
    },
  };
}

/** Polls `probe` until it returns true; fails after `timeoutMs` (a safety bound, not a timing assertion). */
export async function eventually(probe: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
