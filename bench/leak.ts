/**
 * Leak check (issue 9): drive a first batch of requests through Waypost, read its RSS, drive on to
 * the second total, read it again. Target: the second reading within 20 % of the first.
 *
 * Run: `npx tsx bench/leak.ts [--quick]`. Env: LEAK_FIRST (default 100000; quick 20000),
 * LEAK_SECOND (total, default 1000000; quick 200000), LEAK_ENGINE (http-proxy | undici | raw; default the
 * config default), LEAK_ACCESS_LOG (stdout | off; default stdout into /dev/null), LEAK_CONNECTIONS
 * (64), LEAK_TIMEOUT (seconds for the whole drive, default 900). Exit 0 within target, 1 otherwise.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { bodyPath, startBackends } from './lib/backends.js';
import { choosePinning } from './lib/pin.js';
import { ProcessGroup, REPO_ROOT, sleep } from './lib/processes.js';
import { rssBytes } from './lib/resources.js';
import type { RunningSystem } from './lib/system.js';
import { ensureWaypostBuilt, startWaypost, type WaypostEngine } from './lib/systems/waypost.js';

const MiB = 1024 * 1024;
const TARGET_GROWTH = 0.2;
/** Requests per autocannon call: the deadline is checked between chunks. */
const CHUNK = 100_000;

function count(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: expected a positive integer, got "${text}"`);
  return value;
}

/** Heap figures from the admin /metrics (prom-client default metrics), when the proxy serves them. */
async function heapUsedMiB(running: RunningSystem): Promise<number | undefined> {
  if (running.adminPort === undefined) return undefined;
  try {
    const text = await (await fetch(`http://127.0.0.1:${running.adminPort}/metrics`)).text();
    const match = /^nodejs_heap_size_used_bytes\s+([\d.e+]+)/m.exec(text);
    return match ? Number(match[1]) / MiB : undefined;
  } catch {
    return undefined;
  }
}

interface Reading {
  requests: number;
  rssMiB: number;
  heapUsedMiB: number | undefined;
  errors: number;
  non2xx: number;
}

async function main(): Promise<number> {
  const quick = process.argv.includes('--quick');
  const first = count('LEAK_FIRST', quick ? 20_000 : 100_000);
  const second = count('LEAK_SECOND', quick ? 200_000 : 1_000_000);
  const connections = count('LEAK_CONNECTIONS', 64);
  const deadline = Date.now() + count('LEAK_TIMEOUT', 900) * 1000;
  if (second <= first) throw new Error(`LEAK_SECOND (${second}) must be larger than LEAK_FIRST (${first})`);
  const engine = process.env.LEAK_ENGINE as WaypostEngine | undefined;
  if (engine !== undefined && engine !== 'http-proxy' && engine !== 'undici' && engine !== 'raw') {
    throw new Error(`LEAK_ENGINE: expected http-proxy, undici or raw, got "${engine}"`);
  }
  const accessLog = process.env.LEAK_ACCESS_LOG === 'off' ? 'off' : 'stdout';

  const unavailable = await ensureWaypostBuilt();
  if (unavailable) {
    console.log(`leak check skipped: ${unavailable}`);
    return 1;
  }

  const group = new ProcessGroup();
  const pinning = choosePinning();
  const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'waypost-leak-'));
  try {
    const backends = await startBackends(group, pinning);
    const running = await startWaypost(
      { backends, group, pinning, tmpDir },
      { engine, accessLog },
    );
    const pid = running.pid!;
    const url = `http://127.0.0.1:${running.port}${bodyPath(100)}`;
    await sleep(500);
    const idle = rssBytes(pid) / MiB;
    console.log(`Waypost (engine ${engine ?? 'default'}, access log ${accessLog}) idle RSS ${idle.toFixed(1)} MiB; ${pinning.description}`);

    let sent = 0;
    let errors = 0;
    let non2xx = 0;
    const readings: Reading[] = [];
    for (const target of [first, second]) {
      while (sent < target) {
        if (Date.now() > deadline) throw new Error(`LEAK_TIMEOUT passed after ${sent} requests`);
        const amount = Math.min(CHUNK, target - sent);
        const result = await autocannon({ url, connections, amount, headers: { host: running.hostHeader ?? '127.0.0.1' } });
        sent += result.requests.total;
        errors += result.errors + result.timeouts;
        non2xx += result.non2xx;
        if (result.requests.total === 0) throw new Error('no request completed: is the proxy still up?');
      }
      await sleep(2000); // let the last responses' garbage become collectable before reading RSS
      const reading: Reading = { requests: sent, rssMiB: rssBytes(pid) / MiB, heapUsedMiB: await heapUsedMiB(running), errors, non2xx };
      readings.push(reading);
      console.log(
        `after ${sent.toLocaleString('en-US')} requests: RSS ${reading.rssMiB.toFixed(1)} MiB` +
          `${reading.heapUsedMiB === undefined ? '' : `, heap used ${reading.heapUsedMiB.toFixed(1)} MiB`}` +
          `, errors ${errors}, non-2xx ${non2xx}`,
      );
    }
    await running.stop();

    const [a, b] = readings as [Reading, Reading];
    const growth = (b.rssMiB - a.rssMiB) / a.rssMiB;
    const pass = growth <= TARGET_GROWTH;
    console.log(
      `RSS growth ${(growth * 100).toFixed(1)} % from ${a.requests.toLocaleString('en-US')} to ${b.requests.toLocaleString('en-US')} requests ` +
        `(target ≤ ${TARGET_GROWTH * 100} %): ${pass ? 'PASS' : 'FAIL'}`,
    );
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    writeFileSync(
      path.join(REPO_ROOT, 'bench', 'results', `leak-${stamp}.json`),
      `${JSON.stringify({ engine: engine ?? 'default', accessLog, idleRssMiB: idle, readings, growth, pass }, null, 2)}\n`,
    );
    return pass ? 0 : 1;
  } finally {
    await group.stopAll();
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
