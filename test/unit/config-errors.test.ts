/**
 * Config errors name the field, what it takes and what it got, in words: never
 * zod's own wording ("Invalid input: expected number, received string").
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { WaypostError } from '../../src/errors.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'waypost-config-errors-'));

function messageFor(options: Parameters<typeof loadConfig>[0]): string {
  try {
    loadConfig(options);
  } catch (err) {
    if (err instanceof WaypostError && err.code === 'config') return err.message;
    throw err;
  }
  throw new Error('expected a config error');
}

function fromFile(yaml: string): string {
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, yaml);
  return messageFor({ file }).replace(` (from config file ${file})`, '');
}

describe('config error messages', () => {
  it('says what --workers takes when it is not a number', () => {
    expect(messageFor({ flags: [{ path: ['workers'], value: 'abc', flag: '--workers' }] })).toBe(
      'workers: expected a whole number ≥ 1, got "abc" (from flag --workers)',
    );
  });

  it('says what listen takes when the file gives a bare port', () => {
    const file = path.join(dir, 'listen.yaml');
    writeFileSync(file, 'listen: 8080\n');
    expect(messageFor({ file })).toBe(`listen: expected a list of { address: HOST:PORT }, got 8080 (from config file ${file})`);
  });

  it.each([
    ['a number below the minimum', 'workers: 0\n', 'workers: expected a whole number ≥ 1, got 0'],
    ['a number above the maximum', 'workers: 65\n', 'workers: expected a whole number ≤ 64, got 65'],
    ['a fraction where a whole number goes', 'workers: 1.5\n', 'workers: expected a whole number ≥ 1, got 1.5'],
    ['a fraction above a maximum', 'health: { passive: { maxEjectionPercent: 100.5 } }\n', 'health.passive.maxEjectionPercent: expected a number ≤ 100, got 100.5'],
    ['a value outside an enum', 'engine: fast\n', 'engine: expected one of "http-proxy", "undici", "raw", got "fast"'],
    ['a string where a list goes', 'domains: 5\n', 'domains: expected a list of strings, got 5'],
    ['an empty list where one entry is needed', 'listen: []\n', 'listen: expected at least 1 entry, got []'],
    ['a list where a string goes', 'zone: [1]\n', 'zone: expected a string, got [1]'],
    ['a number where a section goes', 'admin: 5\n', 'admin: expected a mapping of fields, got 5'],
    ['a number where a boolean goes', 'listen: [{ address: "127.0.0.1:80", tls: 1 }]\n', 'listen.0.tls: expected true or false, got 1'],
    ['a list where a duration goes', 'timeouts: { connect: [1] }\n', 'timeouts.connect: expected a duration like 500ms, 5s or 2m, got [1]'],
    ['a bad duration', 'timeouts: { connect: soon }\n', 'timeouts.connect: expected a duration like 500ms, 5s or 2m, got "soon"'],
    ['a bad CIDR', 'admin: { allowedCidrs: [everyone] }\n', 'admin.allowedCidrs.0: expected a CIDR range like 10.0.0.0/8 or fd00::/8, got "everyone"'],
    ['a bad service name', 'routes: [{ service: Orders }]\n', 'routes.0.service: expected a service name: lower-case letters, digits and "-", 1-63 characters, got "Orders"'],
    ['a missing required field', 'routes: [{ host: a.test }]\n', 'routes.0.service: expected a string, got nothing'],
    ['a path without its slash', 'routes: [{ service: orders, path: api }]\n', 'routes.0.path: must start with "/", got "api"'],
    ['a value matching no branch of a union', 'routes: [{ service: orders, sticky: 5 }]\n', 'routes.0.sticky: expected true or false or a mapping of fields, got 5'],
    ['a short tuple', 'health: { active: { orders: { expectStatus: [200] } } }\n', 'health.active.orders.expectStatus: expected at least 2 entries, got [200]'],
    ['a bad name as a mapping key', 'health: { active: { Bad_Name: { type: tcp } } }\n', 'health.active.Bad_Name: expected a service name: lower-case letters, digits and "-", 1-63 characters, got "Bad_Name"'],
    ['a key of the wrong kind', 'routes: [{ service: orders, headers: { "": x } }]\n', 'routes.0.headers.: expected at least 1 character, got ""'],
    ['an unknown field', 'admin: { nope: 1 }\n', 'admin: unknown field(s) "nope"'],
  ])('rejects %s in words', (_name, yaml, message) => {
    const text = fromFile(yaml);
    expect(text).toBe(message);
    expect(text).not.toMatch(/Invalid input|Invalid option|Too small|Too big|received/);
  });
});
