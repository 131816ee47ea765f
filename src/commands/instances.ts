/** `waypost instances SERVICE…`: one service's instances. */
import type { Command } from 'commander';
import { checkServiceName } from '../registry/validate.js';
import { configError, isWaypostError } from '../errors.js';
import { addRegistryOptions, withRegistry, type RegistryFlags } from './registry-options.js';
import { printTable } from './table.js';

export function instancesCommand(program: Command): Command {
  return addRegistryOptions(
    program.command('instances').description("list one or more services' instances").argument('<service...>', 'service names'),
  )
    .option('--json', 'print JSON (default: a table)')
    .action(async (services: string[], flags: RegistryFlags & { json?: boolean }) => {
      for (const service of services) asUsage(() => checkServiceName(service, 'SERVICE'));
      const result = await withRegistry(flags, async (registry) =>
        Promise.all(services.map(async (name) => ({ name, instances: await registry.getInstances(name) }))),
      );
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(services.length === 1 ? result[0] : { services: result })}\n`);
        return;
      }
      printTable(
        ['SERVICE', 'ID', 'ADDRESS', 'WEIGHT', 'ZONE', 'STATUS', 'HEALTH', 'LEASE EXPIRES'],
        result.flatMap(({ name, instances }) =>
          instances.map((i) => [name, i.id, `${i.host}:${i.port}`, String(i.weight), i.zone || '-', i.status, i.health ?? '-', i.leaseExpiresAt]),
        ),
      );
    });
}

/** Argument errors are usage errors (exit 2). */
export function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isWaypostError(err, 'invalid')) throw configError('', err.message);
    throw err;
  }
}
