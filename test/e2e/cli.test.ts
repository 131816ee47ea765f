import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, runCli, startProxyProcess, type RunningProxy } from '../helpers/cli.js';
import { deadPort } from '../helpers/ports.js';
import { tempDir } from '../helpers/temp-dir.js';

const dir = tempDir('cli');
const running: RunningProxy[] = [];
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
});

const lines = (text: string) => text.trim().split('\n').filter(Boolean);

/** The option entries of a command's --help (one string each, without -h/--help and -v/--version). */
function optionEntries(help: string): string[] {
  const section = help.split('\nOptions:')[1]?.split('\nGlobal Options:')[0] ?? '';
  return section
    .split(/\n(?=\s+-)/)
    .map((entry) => entry.replace(/\s+/g, ' ').trim().replace(/^-\w, /, ''))
    .filter((entry) => entry.startsWith('--') && !entry.startsWith('--help') && !entry.startsWith('--version'));
}

/** Runs the CLI with stdout and stderr into one file, so the output keeps the order it was written in. */
async function runCombined(args: string[]): Promise<{ code: number | null; output: string }> {
  const file = path.join(dir, `combined-${Date.now()}-${Math.random().toString(36).slice(2)}.log`);
  const fd = openSync(file, 'w');
  try {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', fd, fd] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    return { code, output: readFileSync(file, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

describe('waypost CLI exit codes', () => {
  it('prints help that lists every subcommand and exits 0', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const command of ['proxy', 'register', 'services', 'instances', 'deregister', 'registrar']) {
      expect(result.stdout).toContain(command);
    }
  });

  it('proxy --help shows every default', async () => {
    const entries = optionEntries((await runCli(['proxy', '--help'])).stdout);
    for (const [flag, value] of [
      ['--listen', '0.0.0.0:8080'],
      ['--admin', '127.0.0.1:9901'],
      ['--redis', 'embedded in-memory registry'],
      ['--workers', '1'],
      ['--log-level', 'info'],
      ['--access-log', 'stdout'],
      ['--engine', 'raw'],
    ]) {
      expect(entries.find((entry) => entry.startsWith(`${flag} `))).toContain(`(default: ${value})`);
    }
  });

  it('every option of every command says its default (or that it is required)', async () => {
    const commands = ['proxy', 'register', 'services', 'instances', 'deregister', 'registrar'];
    const helps = await Promise.all(commands.map((command) => runCli([command, '--help'], { timeoutMs: 45_000 })));
    for (const [index, command] of commands.entries()) {
      const entries = optionEntries(helps[index]!.stdout);
      expect(entries.length, `${command}: ${JSON.stringify(helps[index])}`).toBeGreaterThan(2);
      for (const entry of entries) expect(entry, `${command} ${entry}`).toMatch(/\((default: |required\))/);
    }
  }, 60_000);

  it('exits 2 with one line for an unknown flag', async () => {
    const result = await runCli(['proxy', '--bogus']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown option '--bogus'");
  });

  it('exits 2 naming the field for a bad --listen', async () => {
    const result = await runCli(['proxy', '--listen', 'nowhere']);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      'waypost: listen.0.address: expected HOST:PORT (e.g. 127.0.0.1:8080), got "nowhere" (from flag --listen)',
    ]);
  });

  it('exits 2 with one line in words, not zod wording, for --workers abc', async () => {
    const result = await runCli(['proxy', '--workers', 'abc']);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual(['waypost: workers: expected a whole number ≥ 1, got "abc" (from flag --workers)']);
  });

  it('exits 2 naming the field and the file for a bad config field', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'timeouts:\n  header: forever\n');
    const result = await runCli(['proxy', '--config', file]);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      `waypost: timeouts.header: expected a duration like 500ms, 5s or 2m, got "forever" (from config file ${file})`,
    ]);
  });

  it('exits 2 for a bad WAYPOST_ variable', async () => {
    const result = await runCli(['proxy'], { env: { WAYPOST_RETRIES: 'lots' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('retries: expected a number in WAYPOST_RETRIES, got "lots"');
  });

  it('exits 1 with a clear line when the admin port is in use', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const result = await runCli(['proxy', '--listen', '127.0.0.1:0', '--admin', `127.0.0.1:${port}`]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`waypost: cannot bind the admin listener: .*127\\.0\\.0\\.1:${port}`));
    } finally {
      blocker.close();
    }
  });

  it('exits 1 when a port is in use, with the error as the last line printed', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      // The HTTP listener binds after the admin one: the process has logged a few lines by then.
      for (const [flags, what] of [
        [['--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0'], 'HTTP'],
        [['--listen', '127.0.0.1:0', '--admin', `127.0.0.1:${port}`], 'admin'],
      ] as const) {
        const { code, output } = await runCombined(['proxy', ...flags]);
        expect(code).toBe(1);
        const printed = lines(output);
        expect(printed.at(-1)).toMatch(new RegExp(`^waypost: cannot bind the ${what} listener: .*127\\.0\\.0\\.1:${port}$`));
        expect(printed.filter((line) => line.startsWith('waypost: '))).toHaveLength(1);
      }
    } finally {
      blocker.close();
    }
  });

  it('exits 1 with a clear line when Redis is unreachable', async () => {
    const port = await deadPort();
    const result = await runCli(['proxy', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--redis', `redis://127.0.0.1:${port}`], {
      timeoutMs: 20_000,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`127.0.0.1:${port}`);
  });
});

describe('waypost proxy', () => {
  it('serves the registry API on the embedded store and exits 0 on SIGTERM', async () => {
    const proxy = await startProxyProcess(['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--access-log', 'off']);
    running.push(proxy);
    const base = `http://127.0.0.1:${proxy.admin.port}`;
    const created = await fetch(`${base}/v1/services/orders/instances`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'orders-1', host: '127.0.0.1', port: 3000 }),
    });
    expect(created.status).toBe(201);
    const service = (await (await fetch(`${base}/v1/services/orders`)).json()) as { instances: { id: string }[] };
    expect(service.instances.map((i) => i.id)).toEqual(['orders-1']);

    const services = await runCli(['services', '--registry', base, '--json']);
    expect(services.code).toBe(0);
    expect(JSON.parse(services.stdout)).toEqual({ services: [{ name: 'orders', instances: 1, healthy: 1 }] });

    const { code } = await proxy.stop('SIGTERM');
    expect(code).toBe(0);
  });
});

describe('waypost proxy data path', () => {
  it('forwards to a registered backend by the host convention and finishes an in-flight request on SIGTERM', async () => {
    const http = await import('node:http');
    let slowStarted!: () => void;
    const slowSeen = new Promise<void>((resolve) => (slowStarted = resolve));
    const backend = http.createServer((req, res) => {
      if (req.url === '/slow') {
        slowStarted();
        setTimeout(() => res.end('slow done'), 500);
        return;
      }
      res.end(`hello from ${req.headers['x-forwarded-host']}`);
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const backendPort = (backend.address() as net.AddressInfo).port;
    try {
      const proxy = await startProxyProcess(['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--access-log', 'off']);
      running.push(proxy);
      const created = await fetch(`http://127.0.0.1:${proxy.admin.port}/v1/services/orders/instances`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ host: '127.0.0.1', port: backendPort }),
      });
      expect(created.status).toBe(201);
      const port = proxy.http[0]!.port;
      const get = (path: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port, path, headers: { host: 'orders.localhost' } }, (res) => {
              let body = '';
              res.on('data', (c: Buffer) => (body += c));
              res.on('end', () => resolve({ status: res.statusCode!, body }));
            })
            .on('error', reject);
        });
      expect(await get('/')).toEqual({ status: 200, body: 'hello from orders.localhost' });

      const inFlight = get('/slow');
      await slowSeen;
      const exit = proxy.stop('SIGTERM');
      expect(await inFlight).toEqual({ status: 200, body: 'slow done' });
      expect((await exit).code).toBe(0);
    } finally {
      backend.close();
    }
  });

  it('under --pending-deprecation forwards without a deprecation warning (direct socket writes stand down)', async () => {
    const http = await import('node:http');
    const backend = http.createServer((_req, res) => res.end('plain path'));
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    try {
      const proxy = await startProxyProcess(['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--access-log', 'off'], {
        env: { NODE_OPTIONS: '--pending-deprecation' },
      });
      running.push(proxy);
      const created = await fetch(`http://127.0.0.1:${proxy.admin.port}/v1/services/orders/instances`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ host: '127.0.0.1', port: (backend.address() as net.AddressInfo).port }),
      });
      expect(created.status).toBe(201);
      const body = await new Promise<string>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: proxy.http[0]!.port, path: '/', headers: { host: 'orders.localhost' } }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c));
            res.on('end', () => resolve(text));
          })
          .on('error', reject);
      });
      expect(body).toBe('plain path');
      expect((await proxy.stop('SIGTERM')).code).toBe(0);
      expect(proxy.output()).not.toContain('DeprecationWarning');
    } finally {
      backend.close();
    }
  });

  it('exits at once on a second signal while a request is still in flight', async () => {
    const http = await import('node:http');
    let started!: () => void;
    const seen = new Promise<void>((resolve) => (started = resolve));
    const backend = http.createServer(() => started()); // never answers
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const backendPort = (backend.address() as net.AddressInfo).port;
    try {
      const proxy = await startProxyProcess(['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--access-log', 'off']);
      running.push(proxy);
      await fetch(`http://127.0.0.1:${proxy.admin.port}/v1/services/hang/instances`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ host: '127.0.0.1', port: backendPort }),
      });
      const request = http.get({ host: '127.0.0.1', port: proxy.http[0]!.port, path: '/', headers: { host: 'hang.localhost' } });
      request.on('error', () => {});
      await seen;
      proxy.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 200));
      const before = Date.now();
      proxy.child.kill('SIGINT');
      const { code } = await proxy.exited;
      expect(code).toBe(1);
      // The grace period is 30 s; the second signal must not wait for it.
      expect(Date.now() - before).toBeLessThan(5000);
    } finally {
      backend.closeAllConnections();
      backend.close();
    }
  });
});
