/**
 * A real redis-server per test suite, on a free port, in a temp dir, stopped by PID.
 * `restart()` keeps the port so clients can reconnect (resync tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { RedisStoreOptions } from '../../src/registry/redis-store.js';
import { freePort } from './ports.js';

export interface RedisServerOptions {
  port?: number;
  /** Extra `--key value` arguments, e.g. ['--replicaof', '127.0.0.1 6379']. */
  args?: string[];
}

export class RedisServer {
  readonly port: number;
  readonly dir: string;
  #args: string[];
  #child: ChildProcess | undefined;

  private constructor(port: number, args: string[]) {
    this.port = port;
    this.#args = args;
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'waypost-redis-'));
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(options.port ?? (await freePort()), options.args ?? []);
    await server.spawn();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async spawn(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, ...this.#args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#child = child;
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`))),
    );
    exited.catch(() => {});
    await Promise.race([waitForPort(this.port, 10_000), exited]);
  }

  /** SIGKILL, like a crash. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
    this.#child = undefined;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function waitForPort(port: number, timeoutMs: number, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, host);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let prefixes = 0;

/**
 * The `redis` options of a RedisStore in a test: no sentinel, cluster or password unless
 * given, and a key prefix no other store of this process uses unless one is given
 * (stores meant to share a registry pass the same prefix).
 */
export function redisStoreOptions(options: Partial<RedisStoreOptions['redis']> = {}): RedisStoreOptions['redis'] {
  prefixes += 1;
  return { url: '', sentinels: [], name: '', cluster: [], password: '', prefix: `test-${process.pid}-${prefixes}`, feedLength: 100_000, ...options };
}
