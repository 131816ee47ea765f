/**
 * `waypost routes`: the routes a proxy routes by, with where each came from (the config
 * file, the admin API, or declared by a service's instances); `routes set ID` creates or
 * replaces an API route (from a YAML/JSON file with the keys of a config route, or flags);
 * `routes delete ID…` removes API routes. Through a proxy's admin API like the other
 * commands (or Redis with --redis, which knows no config routes).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { Command } from 'commander';
import { configError, describeError, isWaypostError } from '../errors.js';
import { checkRouteId } from '../registry/routes.js';
import type { ListedRoute } from '../routing/live-router.js';
import { asUsage } from './instances.js';
import { addRegistryOptions, withRegistry, type RegistryFlags } from './registry-options.js';
import { printTable } from './table.js';

interface SetFlags extends RegistryFlags {
  file?: string;
  service?: string;
  host?: string;
  path?: string;
  stripPrefix?: boolean;
}

export function routesCommand(program: Command): Command {
  const routes = addRegistryOptions(
    program.command('routes').description('list routes with their source (config, api, declared by a service); see "routes set" and "routes delete"'),
  )
    .option('--json', 'print JSON (default: a table)')
    .action(async (flags: RegistryFlags & { json?: boolean }) => {
      const listing = await withRegistry(flags, (registry) => registry.listRoutes());
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(listing)}\n`);
        return;
      }
      printTable(['ID', 'SOURCE', 'HOST', 'PATH', 'SERVICE', 'STRIP'], listing.routes.map(row));
    });

  // --registry/--redis/--token belong to `routes` (commander parses them there wherever they
  // appear); the subcommands read them with optsWithGlobals().
  routes
    .command('set')
    .description('create or replace an API route: --file FILE (YAML or JSON, the keys of a config route) or --service [--host --path --strip-prefix]')
    .argument('<id>', 'route id: 1-64 of a-z 0-9 . _ -')
    .option('--file <file>', 'the route as YAML or JSON, e.g. {service: orders, path: /api, stripPrefix: true}')
    .option('--service <name>', 'target service (without --file)')
    .option('--host <host>', 'exact host or *.domain (default: any host)')
    .option('--path <prefix>', 'path prefix (default: /)')
    .option('--strip-prefix', 'strip the path prefix before forwarding (default: off)')
    .action(async (id: string, _own: SetFlags, command: Command) => {
      const flags = command.optsWithGlobals<SetFlags>();
      asUsage(() => checkRouteId(id, 'ID'));
      const body = routeBody(flags);
      let stored;
      try {
        stored = await withRegistry(flags, (registry) => registry.putRoute(id, body));
      } catch (err) {
        // A route the registry refuses is a usage error (exit 2); its message names the field.
        if (isWaypostError(err, 'invalid')) throw configError(flags.file === undefined ? '' : '--file', err.message);
        throw err;
      }
      process.stdout.write(`route ${stored.id} set (revision ${stored.revision})\n`);
    });

  routes
    .command('delete')
    .description('remove API routes')
    .argument('<id...>', 'route ids')
    .action(async (ids: string[], _own: RegistryFlags, command: Command) => {
      const flags = command.optsWithGlobals<RegistryFlags>();
      for (const id of ids) asUsage(() => checkRouteId(id, 'ID'));
      const missing = await withRegistry(flags, async (registry) => {
        const unknown: string[] = [];
        for (const id of ids) if (!(await registry.deleteRoute(id))) unknown.push(id);
        return unknown;
      });
      for (const id of ids) if (!missing.includes(id)) process.stdout.write(`deleted route ${id}\n`);
      if (missing.length > 0) {
        process.stderr.write(`waypost: unknown route(s): ${missing.join(', ')}\n`);
        process.exitCode = 1;
      }
    });
  return routes;
}

function row(listed: ListedRoute): string[] {
  const route = listed.route as { host?: string; path?: string; service?: string; stripPrefix?: boolean };
  const source = listed.source === 'declared' ? `declared by ${listed.declaredBy}` : listed.source;
  return [listed.id, source, route.host ?? '*', route.path ?? '/', route.service ?? '-', route.stripPrefix ? 'yes' : 'no'];
}

/** The body to PUT: the file's content, or the route the flags describe (the API validates either). */
function routeBody(flags: SetFlags): Record<string, unknown> {
  const fromFlags = flags.service !== undefined || flags.host !== undefined || flags.path !== undefined || flags.stripPrefix !== undefined;
  if (flags.file !== undefined) {
    if (fromFlags) throw configError('--file', 'give either --file or --service/--host/--path/--strip-prefix, not both');
    let text: string;
    try {
      text = fs.readFileSync(flags.file, 'utf8');
    } catch (err) {
      throw configError('--file', `cannot read ${flags.file}: ${describeError(err)}`);
    }
    let parsed: unknown;
    try {
      // YAML is a superset of JSON: one parser reads both.
      parsed = (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(text);
    } catch (err) {
      throw configError('--file', `${flags.file} is not YAML or JSON: ${describeError(err)}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw configError('--file', `${flags.file} must hold one route (a mapping with at least "service")`);
    }
    return parsed as Record<string, unknown>;
  }
  if (flags.service === undefined) throw configError('--service', 'is required without --file (the service the route sends to)');
  return {
    service: flags.service,
    ...(flags.host === undefined ? {} : { host: flags.host }),
    ...(flags.path === undefined ? {} : { path: flags.path }),
    ...(flags.stripPrefix ? { stripPrefix: true } : {}),
  };
}
