/**
 * Log rotation as operators do it with logrotate: rename the access log, send SIGHUP, and new
 * lines go to a new file at the configured path while the renamed one keeps the old lines.
 */
import { mkdtempSync, readFileSync, renameSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startProxyProcess, type RunningProxy } from '../helpers/cli.js';
import { statusOf } from '../helpers/http.js';

const running: RunningProxy[] = [];
const servers: http.Server[] = [];
afterAll(async () => {
  for (const proxy of running) await proxy.stop('SIGKILL');
  for (const server of servers) server.close();
});

async function until<T>(read: () => T, ok: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function requestIds(file: string): string[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { requestId: string }).requestId);
  } catch {
    return [];
  }
}

describe('access log rotation', () => {
  it('SIGHUP reopens the access log at its path; the renamed file keeps the earlier lines', async () => {
    const backend = http.createServer((_req, res) => res.end('ok'));
    servers.push(backend);
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'waypost-rotate-'));
    const file = path.join(dir, 'access.log');
    const proxy = await startProxyProcess(['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--access-log', file]);
    running.push(proxy);
    const registered = await fetch(`http://127.0.0.1:${proxy.admin.port}/v1/services/web/instances`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'w1', host: '127.0.0.1', port: (backend.address() as AddressInfo).port }),
    });
    expect(registered.status).toBe(201);
    const send = async (id: string) => expect(await statusOf(proxy.http[0]!.port, 'web.localhost', { 'x-request-id': id })).toBe(200);

    await send('before-rotation');
    expect(await until(() => requestIds(file), (ids) => ids.includes('before-rotation'))).toEqual(['before-rotation']);
    const rotated = `${file}.1`;
    renameSync(file, rotated);
    proxy.child.kill('SIGHUP');
    await until(() => proxy.output(), (out) => out.includes('reopening the access log'));
    await send('after-rotation');

    expect(await until(() => requestIds(file), (ids) => ids.length > 0)).toEqual(['after-rotation']);
    expect(requestIds(rotated)).toEqual(['before-rotation']);
    // SIGHUP is not a stop: the proxy still serves, and SIGTERM still ends it cleanly.
    await send('still-serving');
    expect((await proxy.stop('SIGTERM')).code).toBe(0);
    expect(requestIds(file)).toEqual(['after-rotation', 'still-serving']);
  });
});
