/**
 * `waypost proxy`: load config, start the app, stop gracefully on SIGTERM/SIGINT (a second
 * signal exits at once), reopen the access log on SIGHUP.
 */
import { Command, Option } from 'commander';
import { loadConfig } from '../config/load.js';
import { describeError } from '../errors.js';
import { createLogger } from '../log.js';
import cluster from 'node:cluster';
import { startProxy } from '../app.js';
import { startPrimary } from '../workers/primary.js';
import { startWorker } from '../workers/worker.js';

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
  return program
    .command('proxy')
    .description('run the proxy (embedded in-memory registry unless Redis is configured)')
    .option('-c, --config <file>', 'YAML config file (see config/waypost.yaml)')
    .option('--listen <host:port>', 'HTTP listener', undefined)
    .option('--admin <host:port>', 'admin API listener (default 127.0.0.1:9901)')
    .option('--redis <url>', 'use the shared Redis registry at this URL (redis://, rediss://, redis+sentinel://)')
    .option('--workers <n>', 'worker processes sharing the listeners')
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .option('--access-log <target>', 'off | stdout | FILE')
    .addOption(new Option('--engine <engine>', 'HTTP forwarding engine').choices(['http-proxy', 'undici']))
    .option('--zone <zone>', "this proxy's zone, for zone preference")
    .action(async (flags: ProxyFlags) => {
      const config = loadConfig({
        file: flags.config ?? process.env.WAYPOST_CONFIG,
        env: process.env,
        flags: FLAG_PATHS.filter(([key]) => flags[key] !== undefined).map(([key, flag, path, convert]) => ({
          path,
          flag,
          value: convert(flags[key]!),
        })),
      });
      const logger = createLogger({ level: config.logLevel });
      let stopping = false;
      // workers > 1: this process is the cluster primary, or one of its workers (cluster.fork re-runs this command).
      const app =
        config.workers <= 1
          ? await startProxy(config, { logger })
          : cluster.isWorker
            ? await startWorker(config, logger, { onStopRequest: () => stopping || stop('SIGTERM') })
            : await startPrimary(config, logger);
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
      // Log rotation, as nginx's: `mv access.log access.log.1 && kill -HUP <pid>`.
      process.on('SIGHUP', () => {
        logger.info({ signal: 'SIGHUP' }, 'reopening the access log');
        app.reopenLogs();
      });
    });
}
