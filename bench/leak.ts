/**
 * Leak check (issue 9): drive a first batch of requests through Waypost, read its RSS, drive on to
 * the second total, read it again. Target: the second reading within 20 % of the first. Each
 * reading also gives the heap used as /metrics reports it (garbage not yet collected included).
 * `--live-heap` adds the live heap after a full GC to each reading: the sum of a heap snapshot's
 * objects (the proxy runs with --heapsnapshot-signal; a snapshot collects garbage first). Growth
 * of the live heap is what retention looks like, and in that mode it is what is judged: writing a
 * snapshot grows RSS by tens of MiB (measured: 97 → 181 MiB), so RSS then means nothing.
 *
 * Run: `npx tsx bench/leak.ts [--quick] [--live-heap]`. Env: LEAK_FIRST (default 100000; quick 20000),
 * LEAK_SECOND (total, default 1000000; quick 200000), LEAK_ENGINE (http-proxy | undici | raw; default the
 * config default), LEAK_ACCESS_LOG (stdout | off; default stdout into /dev/null), LEAK_CONNECTIONS
 * (64), LEAK_TIMEOUT (seconds for the whole drive, default 900). Exit 0 within target, 1 otherwise.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

/**
 * The live heap after a full GC, in MiB: SIGUSR2 makes the proxy (started with
 * --heapsnapshot-signal) write a heap snapshot into `dir`, which runs a full GC first; its objects'
 * self sizes are summed, and the file removed. undefined when none appears within 60 s.
 */
async function liveHeapMiB(pid: number, dir: string): Promise<number | undefined> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    await sleep(500);
    const file = readdirSync(dir).find((name) => name.endsWith('.heapsnapshot') && !before.has(name));
    if (file === undefined) continue;
    const full = path.join(dir, file);
    const size = statSync(full).size;
    await sleep(500);
    if (statSync(full).size !== size) continue;
    try {
      const snapshot = JSON.parse(readFileSync(full, 'utf8')) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
      const fields = snapshot.snapshot.meta.node_fields;
      const at = fields.indexOf('self_size');
      let total = 0;
      for (let i = at; i < snapshot.nodes.length; i += fields.length) total += snapshot.nodes[i]!;
      rmSync(full, { force: true });
      return total / MiB;
    } catch {
      // Still being written.
    }
  }
  return undefined;
}

interface Reading {
  requests: number;
  rssMiB: number;
  heapUsedMiB: number | undefined;
  /** After a full GC (a heap snapshot): what is really retained. */
  liveHeapMiB: number | undefined;
  errors: number;
  non2xx: number;
}

async function main(): Promise<number> {
  const quick = process.argv.includes('--quick');
  const liveHeap = process.argv.includes('--live-heap');
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
      { engine, accessLog, ...(liveHeap ? { nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${tmpDir}`] } : {}) },
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
      const rssMiB = rssBytes(pid) / MiB;
      const heapUsed = await heapUsedMiB(running);
      const reading: Reading = { requests: sent, rssMiB, heapUsedMiB: heapUsed, liveHeapMiB: liveHeap ? await liveHeapMiB(pid, tmpDir) : undefined, errors, non2xx };
      readings.push(reading);
      console.log(
        `after ${sent.toLocaleString('en-US')} requests: RSS ${reading.rssMiB.toFixed(1)} MiB` +
          `${reading.heapUsedMiB === undefined ? '' : `, heap used ${reading.heapUsedMiB.toFixed(1)} MiB`}` +
          `${reading.liveHeapMiB === undefined ? '' : `, live heap after a full GC ${reading.liveHeapMiB.toFixed(2)} MiB`}` +
          `, errors ${errors}, non-2xx ${non2xx}`,
      );
    }
    await running.stop();

    const [a, b] = readings as [Reading, Reading];
    const judged = liveHeap ? 'live heap' : 'RSS';
    const [from, to] = liveHeap ? [a.liveHeapMiB, b.liveHeapMiB] : [a.rssMiB, b.rssMiB];
    if (from === undefined || to === undefined) throw new Error('no heap snapshot appeared within 60 s');
    const growth = (to - from) / from;
    const pass = growth <= TARGET_GROWTH;
    console.log(
      `${judged} growth ${(growth * 100).toFixed(1)} % from ${a.requests.toLocaleString('en-US')} to ${b.requests.toLocaleString('en-US')} requests ` +
        `(target ≤ ${TARGET_GROWTH * 100} %): ${pass ? 'PASS' : 'FAIL'}`,
    );
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    writeFileSync(
      path.join(REPO_ROOT, 'bench', 'results', `leak-${stamp}.json`),
      `${JSON.stringify({ engine: engine ?? 'default', accessLog, idleRssMiB: idle, judged, readings, growth, pass }, null, 2)}\n`,
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
