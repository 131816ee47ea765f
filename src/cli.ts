#!/usr/bin/env node
/**
 * `waypost` command line: commander wiring only. Each subcommand lives in
 * src/commands/. Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.
 */
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { deregisterCommand } from './commands/deregister.js';
import { instancesCommand } from './commands/instances.js';
import { proxyCommand } from './commands/proxy.js';
import { registerCommand } from './commands/register.js';
import { registrarCommand } from './commands/registrar.js';
import { routesCommand } from './commands/routes.js';
import { servicesCommand } from './commands/services.js';
import { describeError, isWaypostError } from './errors.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

export const EXIT_USAGE = 2;
export const EXIT_RUNTIME = 1;

function buildProgram(): Command {
  const program = new Command('waypost')
    .description('Service-discovery reverse proxy: a leased service registry and a balancing proxy for HTTP, WebSocket and TCP.')
    .version(version, '-v, --version')
    .showSuggestionAfterError(true)
    .configureHelp({ sortSubcommands: false, showGlobalOptions: true })
    .addHelpText(
      'after',
      `
Examples:
  waypost proxy                                   embedded registry, proxy on :8080, admin on 127.0.0.1:9901
  waypost proxy --redis redis://127.0.0.1:6379    shared Redis registry
  waypost register --service orders --address 127.0.0.1:3000 --check-path /healthz
  waypost services --registry http://127.0.0.1:9901
  waypost routes set orders-api --service orders --path /api/orders --strip-prefix

Every proxy option can also come from --config FILE (YAML) or WAYPOST_* variables (flag > env > file).`,
    );
  // Exit codes are ours to choose: commander would exit 1 on usage errors.
  program.exitOverride();
  for (const add of [proxyCommand, registerCommand, servicesCommand, instancesCommand, deregisterCommand, routesCommand, registrarCommand]) {
    add(program).exitOverride();
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version end with exit code 0; anything else commander rejects is a usage error.
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    const usage = isWaypostError(err, 'config');
    process.stderr.write(`waypost: ${describeError(err)}\n`);
    process.exit(usage ? EXIT_USAGE : EXIT_RUNTIME);
  }
}

await main(process.argv);
