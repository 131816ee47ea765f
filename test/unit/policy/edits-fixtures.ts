/**
 * Fixtures of the header/rewrite/redirect/compress/CORS step tests: a PolicyRequest
 * over plain request data (what a step reads), and the config error a route gets.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { loadConfig } from '../../../src/config/load.js';
import { WaypostError } from '../../../src/errors.js';
import type { PolicyErrorCode, PolicyRequest } from '../../../src/policy/step.js';
import { tempDir } from '../../helpers/temp-dir.js';

export interface Answer {
  status: number;
  headers: OutgoingHttpHeaders;
  body: string | undefined;
}

export interface TestRequest extends PolicyRequest {
  /** Writable here: the exchange sets it before each attempt. */
  instance: string;
  /** What respond() / reject() answered, if anything. */
  answer: Answer | undefined;
}

export function policyRequest(
  fields: { method?: string; url?: string; headers?: IncomingHttpHeaders; scheme?: 'http' | 'https'; host?: string; instance?: string } = {},
): TestRequest {
  const req = { method: fields.method ?? 'GET', url: fields.url ?? '/', headers: { ...fields.headers } } as IncomingMessage;
  // A response stand-in that is a real stream (compress pipes into the sink, listens for close).
  const res = new PassThrough() as unknown as ServerResponse;
  const request: TestRequest = {
    req,
    res,
    clientIp: '203.0.113.7',
    requestId: 'req-1',
    host: fields.host ?? 'shop.example.com',
    service: 'orders',
    routeId: 'route[0]',
    scheme: fields.scheme ?? 'http',
    upstreamPath: fields.url ?? '/',
    instance: fields.instance ?? '',
    answer: undefined,
    reject(code: PolicyErrorCode) {
      request.answer = { status: 0, headers: { 'x-waypost-error': code }, body: undefined };
    },
    respond(status: number, headers: OutgoingHttpHeaders, body?: Buffer | string) {
      request.answer = { status, headers, body: body === undefined ? undefined : String(body) };
    },
  };
  return request;
}

const dir = tempDir('waypost-policy-edits-');
let files = 0;

/** The config error of one route with these fields (JSON is YAML), without the file name. */
export function routeConfigError(fields: Record<string, unknown>, top: Record<string, unknown> = {}): string {
  const file = path.join(dir, `config-${files++}.yaml`);
  writeFileSync(file, JSON.stringify({ ...top, routes: [{ service: 'orders', ...fields }] }));
  try {
    loadConfig({ file });
  } catch (err) {
    if (err instanceof WaypostError && err.code === 'config') return err.message.replace(` (from config file ${file})`, '');
    throw err;
  }
  throw new Error('expected a config error');
}

/** The parsed route (its policy keys with defaults applied). */
export function routeConfig(fields: Record<string, unknown>) {
  const file = path.join(dir, `config-${files++}.yaml`);
  writeFileSync(file, JSON.stringify({ routes: [{ service: 'orders', ...fields }] }));
  return loadConfig({ file }).routes[0]!;
}
