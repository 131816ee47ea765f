/**
 * One run of a Consul HTTP or TCP check. HTTP: 2xx passing, 429 warning, anything
 * else (or no answer within the timeout) critical. TCP: connected passing, else critical.
 */
import http from 'node:http';
import net from 'node:net';
import { splitHostPort } from './definitions.js';
import type { CheckDefinition, CheckStatus } from './model.js';

/** Consul's default HTTP/TCP check timeout. */
const DEFAULT_CHECK_TIMEOUT_MS = 10_000;

export interface ProbeResult {
  readonly status: CheckStatus;
  readonly output: string;
}

/** One HTTP or TCP check, bounded by its timeout (at most its interval). */
export function probe(definition: CheckDefinition): Promise<ProbeResult> {
  const timeoutMs = Math.min(definition.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS, definition.intervalMs ?? DEFAULT_CHECK_TIMEOUT_MS);
  return definition.type === 'http' ? probeHttp(definition.target!, definition.method ?? 'GET', timeoutMs) : probeTcp(definition.target!, timeoutMs);
}

function probeHttp(url: string, method: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = http.request(url, { method, timeout: timeoutMs, headers: { 'user-agent': 'Consul Health Check (Waypost)' } }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      const status: CheckStatus = code >= 200 && code < 300 ? 'passing' : code === 429 ? 'warning' : 'critical';
      resolve({ status, output: `HTTP ${method} ${url}: ${code}` });
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ status: 'critical', output: `HTTP ${method} ${url}: ${err.message}` }));
    req.end();
  });
}

function probeTcp(target: string, timeoutMs: number): Promise<ProbeResult> {
  const { host, port } = splitHostPort(target);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ status: 'passing', output: `TCP connect ${target}: Success` });
    });
    socket.once('timeout', () => socket.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    socket.once('error', (err) => resolve({ status: 'critical', output: `TCP connect ${target}: ${err.message}` }));
  });
}
