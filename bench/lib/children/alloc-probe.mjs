/**
 * Preloaded into a proxy under test by bench/allocations.ts (NODE_OPTIONS=--import=this file,
 * PROXY_ALLOC_DIR=a directory). Each SIGUSR2 runs the command in PROXY_ALLOC_DIR/command:
 *   `start`          counts from now: GCs by kind and their time, CPU time, wall time
 *   `start-profile`  the same, plus V8's sampling heap profiler (every allocation, also those
 *                    a scavenge or mark-compact collects: the bytes a request costs the GC)
 *   `stop`           writes PROXY_ALLOC_DIR/result.json (and profile.json after start-profile)
 * then writes PROXY_ALLOC_DIR/ack with the command, so the bench knows it was done.
 * Plain JavaScript so the proxy needs no TypeScript loader.
 */
import { writeFileSync, readFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';

const dir = process.env.PROXY_ALLOC_DIR;
const interval = Number(process.env.PROXY_ALLOC_INTERVAL ?? 4096);

if (dir) {
  let counting = false;
  let stats = fresh();
  let cpuAtStart = process.cpuUsage();
  let wallAtStart = performance.now();
  let session;

  new PerformanceObserver((list) => {
    if (!counting) return;
    for (const entry of list.getEntries()) {
      // Scavenges are "minor"; mark-compact, incremental marking and weak callbacks count as major.
      if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        stats.scavenges++;
        stats.scavengeMs += entry.duration;
      } else {
        stats.majors++;
        stats.majorMs += entry.duration;
      }
    }
  }).observe({ entryTypes: ['gc'] });

  const post = (method, params) =>
    new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));

  const run = async (command) => {
    if (command === 'start' || command === 'start-profile') {
      if (command === 'start-profile') {
        session ??= new Session();
        session.connect();
        await post('HeapProfiler.startSampling', {
          samplingInterval: interval,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        });
      }
      stats = fresh();
      counting = true;
      cpuAtStart = process.cpuUsage();
      wallAtStart = performance.now();
    } else if (command === 'stop') {
      counting = false;
      const cpu = process.cpuUsage(cpuAtStart);
      const result = {
        ...stats,
        cpuUserUs: cpu.user,
        cpuSystemUs: cpu.system,
        wallMs: performance.now() - wallAtStart,
        rssMiB: process.memoryUsage.rss() / 1048576,
        peakRssMiB: process.resourceUsage().maxRSS / 1024,
      };
      if (session !== undefined) {
        const { profile } = await post('HeapProfiler.stopSampling');
        session.disconnect();
        session = undefined;
        writeFileSync(path.join(dir, 'profile.json'), JSON.stringify(profile));
      }
      writeFileSync(path.join(dir, 'result.json'), JSON.stringify(result));
    }
    writeFileSync(path.join(dir, 'ack'), command);
  };

  process.on('SIGUSR2', () => {
    const command = readFileSync(path.join(dir, 'command'), 'utf8').trim();
    run(command).catch((error) => writeFileSync(path.join(dir, 'ack'), `error ${error.message}`));
  });
}

function fresh() {
  return { scavenges: 0, scavengeMs: 0, majors: 0, majorMs: 0 };
}
