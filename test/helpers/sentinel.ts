/**
 * A real Redis Sentinel group for tests and chaos runs: 1 master, 1 replica and 3
 * sentinels (quorum 2), every process on a free port and stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { RedisServer, waitForPort } from './redis-server.js';
import { sleep, waitFor } from './wait.js';


export const MASTER_NAME = 'mymaster';

export class SentinelProcess {
  readonly #child: ChildProcess;
  readonly #dir: string;

  private constructor(
    readonly port: number,
    child: ChildProcess,
    dir: string,
  ) {
    this.#child = child;
    this.#dir = dir;
  }

  static async start(masterPort: number): Promise<SentinelProcess> {
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'waypost-sentinel-'));
    const conf = path.join(dir, 'sentinel.conf');
    // Sentinel rewrites its config file, so it lives in a writable temp dir.
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        'sentinel resolve-hostnames no',
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 3000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    await waitForPort(port, 10_000);
    return new SentinelProcess(port, child, dir);
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

export async function sentinelQuery(port: number, ...args: string[]): Promise<unknown> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.call('SENTINEL', ...args);
  } finally {
    client.disconnect();
  }
}

/** 1 master, 1 replica, 3 sentinels (quorum 2), each failover test on its own group. */
export class SentinelGroup {
  readonly sentinels: SentinelProcess[] = [];

  private constructor(
    readonly master: RedisServer,
    readonly replica: RedisServer,
  ) {}

  static async start(): Promise<SentinelGroup> {
    const master = await RedisServer.start({ args: ['--repl-diskless-sync-delay', '0'] });
    const group = new SentinelGroup(master, await RedisServer.start({ args: ['--replicaof', `127.0.0.1 ${master.port}`] }));
    for (let i = 0; i < 3; i += 1) group.sentinels.push(await SentinelProcess.start(master.port));
    // A failover needs every sentinel to know the replica and a quorum of its peers.
    for (const sentinel of group.sentinels) {
      await waitFor(
        `sentinel ${sentinel.port} to discover its replica and 2 peers`,
        async () => {
          const replicas = (await sentinelQuery(sentinel.port, 'REPLICAS', MASTER_NAME)) as unknown[];
          const peers = (await sentinelQuery(sentinel.port, 'SENTINELS', MASTER_NAME)) as unknown[];
          return replicas.length === 1 && peers.length === 2;
        },
        { timeoutMs: 15_000, intervalMs: 100 },
      );
    }
    return group;
  }

  get url(): string {
    return `redis+sentinel://${this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${MASTER_NAME}`;
  }

  async stop(): Promise<void> {
    for (const sentinel of this.sentinels) await sentinel.stop();
    await this.replica.stop();
    await this.master.stop();
  }
}
