/**
 * `waypost proxy`: load config, start the app, stop gracefully on SIGTERM/SIGINT (a second
 * signal exits at once), reload the configuration (and reopen the access log) on SIGHUP.
 */
import { Command, Option } from 'commander';
import { loadConfig } from '../config/load.js';
import { ENGINE_NAMES, type WaypostConfig } from '../config/schema.js';
import { describeError } from '../errors.js';
import { createLogger } from '../log.js';
import { startProxy, type WaypostApp } from '../app.js';
import type { RunningPrimary } from '../workers/primary.js';
import { isClusterWorker } from '../workers/is-worker.js';
import { formatHostPort } from '../net/address.js';
import { logLevelOption } from './options.js';
import { startOrFlush } from './log-flush.js';
import { trimYoungGenerationWhileIdle } from '../idle-trim.js';
import { growOldGenerationForThroughput } from '../heap-growth.js';

interface ProxyFlags {
  config?: string;
  listen?: string;
  admin?: string;
  redis?: string;
  workers?: string;
  logLevel?: string;
  accessLog?: string;
  engine?: string;
  zone?: string;
}

/** Flag name → config path. Values are validated by the schema with the rest. */
const FLAG_PATHS: ReadonlyArray<[keyof ProxyFlags, string, string[], (v: string) => unknown]> = [
  ['listen', '--listen', ['listen'], String],
  ['admin', '--admin', ['admin', 'listen'], String],
  ['redis', '--redis', ['redis', 'url'], String],
  ['workers', '--workers', ['workers'], (v) => (/^\d+$/.test(v) ? Number(v) : v)],
  ['logLevel', '--log-level', ['logLevel'], String],
  ['accessLog', '--access-log', ['accessLog'], String],
  ['engine', '--engine', ['engine'], String],
  ['zone', '--zone', ['zone'], String],
];

export function proxyCommand(program: Command): Command {
  // Shown in --help, read from the schema so the text cannot drift from what runs.
  const defaults = loadConfig();
  return program
    .command('proxy')
    .description('run the proxy (embedded in-memory registry unless Redis is configured)')
    .option('-c, --config <file>', 'YAML config file, see config/waypost.yaml (default: $WAYPOST_CONFIG, else none)')
    .option('--listen <host:port>', `HTTP listener (default: ${defaults.listen.map((l) => formatHostPort(l.address)).join(', ')})`)
    .option('--admin <host:port>', `admin API listener (default: ${formatHostPort(defaults.admin.listen)})`)
    .option('--redis <url>', 'use the shared Redis registry at this URL: redis://, rediss://, redis+sentinel:// (default: embedded in-memory registry)')
    .option('--workers <n>', `worker processes sharing the listeners (default: ${defaults.workers})`)
    .addOption(logLevelOption())
    .option('--access-log <target>', `off | stdout | FILE (default: ${defaults.accessLog})`)
    .addOption(new Option('--engine <engine>', `HTTP forwarding engine (default: ${defaults.engine})`).choices(ENGINE_NAMES))
    .option('--zone <zone>', "this proxy's zone, for zone preference (default: none)")
    .action(async (flags: ProxyFlags) => {
      // A reload reads the same file, env and flags again: flags given at start keep winning.
      const load = (): WaypostConfig =>
        loadConfig({
          file: flags.config ?? process.env.WAYPOST_CONFIG,
          env: process.env,
          flags: FLAG_PATHS.filter(([key]) => flags[key] !== undefined).map(([key, flag, path, convert]) => ({
            path,
            flag,
            value: convert(flags[key]!),
          })),
        });
      // A cluster worker runs on the configuration the primary validated (and reloaded since), not on the file.
      // node:cluster and the worker modules load only with --workers > 1 (idle memory of one process).
      const worker = await isClusterWorker();
      const config = worker ? await (await import('../workers/worker.js')).configFromPrimary() : load();
      const logger = createLogger({ level: config.logLevel });
      let stopping = false;
      // workers > 1: this process is the cluster primary, or one of its workers (cluster.fork re-runs this command).
      const app = await startOrFlush<RunningPrimary | WaypostApp>(logger, async () =>
        config.workers <= 1
          ? startProxy(config, { logger, configSource: load })
          : worker
            ? (await import('../workers/worker.js')).startWorker(config, logger, { onStopRequest: () => stopping || stop('SIGTERM') })
            : (await import('../workers/primary.js')).startPrimary(config, logger, load),
      );
      // Give back the young generation start-up grew (src/idle-trim.ts); room for load's promotions (src/heap-growth.ts).
      trimYoungGenerationWhileIdle();
      growOldGenerationForThroughput();
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) {
          logger.warn({ signal }, 'second signal, exiting at once');
          process.exit(1);
        }
        stopping = true;
        logger.info({ signal, graceMs: config.timeouts.grace }, 'stopping');
        app
          .stop()
          .then(() => {
            logger.info('stopped');
            logger.flush();
            process.exit(0);
          })
          .catch((err: unknown) => {
            logger.error({ err: describeError(err) }, 'stop failed');
            process.exit(1);
          });
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      // As nginx's: `kill -HUP <pid>` reloads the configuration; log rotation (`mv access.log
      // access.log.1 && kill -HUP <pid>`) works through it, as the reload reopens the access log.
      // A worker's SIGHUP (not sent by the primary any more) only reopens its log.
      process.on('SIGHUP', () => {
        const reloader = 'app' in app ? app.app.reloader : app.reloader;
        logger.info({ signal: 'SIGHUP' }, reloader ? 'reloading the configuration; reopening the access log' : 'reopening the access log');
        if (reloader) reloader.reload('SIGHUP').catch(() => undefined); // refused: logged by the reloader, the old config stays
        else app.reopenLogs();
      });
    });
}
