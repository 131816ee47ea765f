/**
 * `waypost` command line: commander wiring only (src/cli.ts runs it). Each subcommand lives in
 * src/commands/. Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.
 */
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { proxyCommand } from './proxy.js';
import { describeError, isWaypostError } from '../errors.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

export const EXIT_USAGE = 2;
export const EXIT_RUNTIME = 1;

type AddCommand = (program: Command) => Command;

/**
 * The subcommands to define. `waypost proxy …` defines only itself: the others' modules (the
 * sidecar, the registrar's Docker client, the registry client, tables) stay unloaded in a
 * long-running proxy (issue 21 item 4: idle memory). Anything else defines all of them, so
 * help, suggestions and every other subcommand work as before.
 */
async function subcommands(argv: string[]): Promise<AddCommand[]> {
  if (argv[2] === 'proxy') return [proxyCommand];
  const [register, services, instances, deregister, routes, registrar] = await Promise.all([
    import('./register.js'),
    import('./services.js'),
    import('./instances.js'),
    import('./deregister.js'),
    import('./routes.js'),
    import('./registrar.js'),
  ]);
  return [
    proxyCommand,
    register.registerCommand,
    services.servicesCommand,
    instances.instancesCommand,
    deregister.deregisterCommand,
    routes.routesCommand,
    registrar.registrarCommand,
  ];
}

function buildProgram(commands: AddCommand[]): Command {
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
  for (const add of commands) {
    add(program).exitOverride();
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram(await subcommands(argv));
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

