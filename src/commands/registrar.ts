/**
 * `waypost registrar`: third-party registration of containers from a Docker-API
 * event stream (Docker or Podman). Runs until SIGTERM/SIGINT; it never exits
 * because the engine or the registry is unreachable.
 */
import os from 'node:os';
import type { Command } from 'commander';
import { configError } from '../errors.js';
import { createLogger } from '../log.js';
import { checkHost } from '../registry/validate.js';
import { INSTANCE_ID_PATTERN } from '../types.js';
import { DockerApi } from '../sidecar/docker-api.js';
import { DEFAULT_REGISTRY_URL, parseIntegerFlag, targetFromFlags } from '../sidecar/flags.js';
import { Registrar } from '../sidecar/registrar.js';
import { logLevelOption } from './options.js';

interface RegistrarFlags {
  dockerHost?: string;
  registry?: string;
  redis?: string;
  token?: string;
  id?: string;
  ttl?: string;
  advertiseHost?: string;
  logLevel?: string;
}

export function registrarCommand(program: Command): Command {
  return program
    .command('registrar')
    .description('register labelled containers (waypost.service) from a Docker/Podman event stream; reconcile on start')
    .option('--docker-host <url>', 'engine API: unix:///run/docker.sock or tcp://HOST:PORT (default: $DOCKER_HOST)')
    .option('--registry <url>', `admin API URL (default: ${DEFAULT_REGISTRY_URL})`)
    .option('--redis <url>', 'write to the Redis registry directly instead of the admin API (default: off)')
    .option('--token <token>', 'admin API bearer token (default: $WAYPOST_ADMIN_TOKEN)')
    .option('--id <id>', 'this registrar\'s mark on its registrations; keep it stable across restarts (default: the host name)')
    .option('--ttl <seconds>', 'lease of the registrations it makes (default: 30)')
    .option('--advertise-host <host>', 'address for host-networked containers and published ports (default: 127.0.0.1)')
    .addOption(logLevelOption())
    .action(async (flags: RegistrarFlags) => {
      const dockerHost = flags.dockerHost ?? process.env.DOCKER_HOST;
      if (!dockerHost) throw configError('--docker-host', 'is required (e.g. unix:///run/docker.sock), or set DOCKER_HOST');
      const docker = new DockerApi(dockerHost);
      const registrarId = flags.id ?? os.hostname();
      if (!INSTANCE_ID_PATTERN.test(registrarId)) throw configError('--id', `must be 1-128 of A-Z a-z 0-9 . _ : -, got "${registrarId}"`);
      const ttl = parseIntegerFlag(flags.ttl, '--ttl', 1, 3600);
      let advertiseHost: string | undefined;
      if (flags.advertiseHost !== undefined) {
        try {
          advertiseHost = checkHost(flags.advertiseHost, '--advertise-host');
        } catch (err) {
          throw configError('--advertise-host', (err as Error).message);
        }
      }
      const logger = createLogger({ level: flags.logLevel ?? 'info' });
      const { target, describe } = targetFromFlags(flags, logger);
      const registrar = new Registrar({
        docker,
        target,
        registrarId,
        logger,
        ...(ttl === undefined ? {} : { ttl }),
        ...(advertiseHost === undefined ? {} : { advertiseHost }),
      });
      logger.info({ dockerHost, registry: describe, registrarId }, 'registrar starting');
      registrar.start();
      await new Promise<void>((resolve) => {
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals): void => {
          if (++signals > 1) process.exit(1);
          logger.info({ signal }, 'stopping');
          resolve();
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
      await registrar.stop();
      await target.close();
      logger.info('stopped');
      logger.flush();
      process.exit(0);
    });
}
