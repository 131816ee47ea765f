/** `waypost deregister SERVICE ID…`: remove instances. */
import type { Command } from 'commander';
import { checkInstanceId, checkServiceName } from '../registry/validate.js';
import { asUsage } from './instances.js';
import { addRegistryOptions, withRegistry, type RegistryFlags } from './registry-options.js';

export function deregisterCommand(program: Command): Command {
  return addRegistryOptions(
    program
      .command('deregister')
      .description('remove instances from the registry')
      .argument('<service>', 'service name')
      .argument('<id...>', 'instance ids'),
  ).action(async (service: string, ids: string[], flags: RegistryFlags) => {
    asUsage(() => checkServiceName(service, 'SERVICE'));
    for (const id of ids) asUsage(() => checkInstanceId(id, 'ID'));
    const missing = await withRegistry(flags, async (registry) => {
      const unknown: string[] = [];
      for (const id of ids) if (!(await registry.deregister(service, id))) unknown.push(id);
      return unknown;
    });
    for (const id of ids) if (!missing.includes(id)) process.stdout.write(`deregistered ${service}/${id}\n`);
    if (missing.length > 0) {
      process.stderr.write(`waypost: unknown instance(s) of ${service}: ${missing.join(', ')}\n`);
      process.exitCode = 1;
    }
  });
}
