/** `waypost services`: services with instance counts and health. */
import type { Command } from 'commander';
import { addRegistryOptions, withRegistry, type RegistryFlags } from './registry-options.js';
import { printTable } from './table.js';

export function servicesCommand(program: Command): Command {
  return addRegistryOptions(program.command('services').description('list services with instance counts and health'))
    .option('--json', 'print JSON (default: a table)')
    .action(async (flags: RegistryFlags & { json?: boolean }) => {
      const services = await withRegistry(flags, (registry) => registry.listServices());
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ services })}\n`);
        return;
      }
      printTable(
        ['SERVICE', 'INSTANCES', 'HEALTHY'],
        services.map((s) => [s.name, String(s.instances), String(s.healthy)]),
      );
    });
}
