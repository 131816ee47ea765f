/**
 * Log rotation as operators do it with logrotate: rename the access log, send SIGHUP, and new
 * lines go to a new file at the configured path while the renamed one keeps the old lines.
 */
import { readFileSync, renameSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startProxyProcess, type RunningProxy } from '../helpers/cli.js';
import { statusOf } from '../helpers/http.js';
import { readUntil } from '../helpers/wait.js';
import { testTempDir } from '../helpers/temp-dir.js';

/** A child process writes its log asynchronously. */
const SLOW = { timeoutMs: 10_000, intervalMs: 50 };

const running: RunningProxy[] = [];
const servers: http.Server[] = [];
afterAll(async () => {
  for (const proxy of running) await proxy.stop('SIGKILL');
  for (const server of servers) server.close();
});

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
    const dir = testTempDir('rotate');
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
    expect(await readUntil('the request before rotation in the log', () => requestIds(file), (ids) => ids.includes('before-rotation'), SLOW)).toEqual(['before-rotation']);
    const rotated = `${file}.1`;
    renameSync(file, rotated);
    proxy.child.kill('SIGHUP');
    await readUntil('the reopen log line', () => proxy.output(), (out) => out.includes('reopening the access log'), SLOW);
    await send('after-rotation');

    expect(await readUntil('a request in the new log', () => requestIds(file), (ids) => ids.length > 0, SLOW)).toEqual(['after-rotation']);
    expect(requestIds(rotated)).toEqual(['before-rotation']);
    // SIGHUP is not a stop: the proxy still serves, and SIGTERM still ends it cleanly.
    await send('still-serving');
    expect((await proxy.stop('SIGTERM')).code).toBe(0);
    expect(requestIds(file)).toEqual(['after-rotation', 'still-serving']);
  });
});
