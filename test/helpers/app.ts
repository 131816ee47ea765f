/**
 * A whole Waypost (store → mirror → router → proxy + admin) in this test process,
 * on ephemeral loopback ports, with the real wiring of src/app.ts.
 */
import { WaypostApp, type AppDeps } from '../../src/app.js';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { silentLogger, type Logger } from '../../src/log.js';
import type { RegistrationInput } from '../../src/types.js';

export interface TestApp {
  app: WaypostApp;
  /** http://127.0.0.1:PORT of the admin API. */
  adminUrl: string;
  /** First HTTP listener's port. */
  port: number;
  register(input: RegistrationInput): Promise<void>;
  stop(): Promise<void>;
}

export async function startApp(
  overrides: Partial<ConfigInput> = {},
  options: { logger?: Logger; deps?: Omit<AppDeps, 'logger'> } = {},
): Promise<TestApp> {
  const config = configSchema.parse({
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0', ...(overrides.admin ?? {}) },
    accessLog: 'off',
    ...overrides,
  });
  const app = new WaypostApp(Object.freeze(config), { ...options.deps, logger: options.logger ?? silentLogger });
  try {
    await app.start();
  } catch (err) {
    await app.stop();
    throw err;
  }
  const { admin, http } = app.addresses;
  return {
    app,
    adminUrl: `http://127.0.0.1:${admin.port}`,
    port: http[0]!.port,
    async register(input) {
      const { record } = await app.store.register(input);
      // The mirror applies the change asynchronously; wait until it routes on it.
      for (let i = 0; i < 200 && !app.mirror.service(input.service)?.instances.some((r) => r.id === record.id); i++) {
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    stop: () => app.stop(),
  };
}
