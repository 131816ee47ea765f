// Preload for bench/syscalls.ts --alloc (plain JavaScript: `node --import` takes no TypeScript).
// Loaded through NODE_OPTIONS=--import=THIS into the process under test; does nothing until told.
// The first SIGUSR2 starts V8's sampling heap profiler, keeping samples of objects that were
// collected since (so the sum is what was allocated, not what is still alive); the second stops
// it and writes { bytes, top } to $ALLOC_SAMPLER_DIR/alloc-<pid>.json, `top` being the functions
// whose own allocations weigh most.
import { writeFileSync } from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';

const SAMPLING_INTERVAL_BYTES = 256;
const dir = process.env.ALLOC_SAMPLER_DIR;
const session = new inspector.Session();
session.connect();
let sampling = false;

function post(method, params) {
  return new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
}

function summarize(profile) {
  const byFunction = new Map();
  let bytes = 0;
  const walk = (node) => {
    bytes += node.selfSize;
    if (node.selfSize > 0) {
      const frame = node.callFrame;
      const key = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/(node_modules|dist|src)\//, '$1/')}:${frame.lineNumber + 1}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  const top = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 40).map(([where, size]) => ({ where, bytes: size }));
  return { bytes, top };
}

if (dir !== undefined) {
  process.on('SIGUSR2', () => {
    if (!sampling) {
      sampling = true;
      void post('HeapProfiler.startSampling', {
        samplingInterval: SAMPLING_INTERVAL_BYTES,
        includeObjectsCollectedByMinorGC: true,
        includeObjectsCollectedByMajorGC: true,
      });
      return;
    }
    sampling = false;
    void post('HeapProfiler.stopSampling').then(({ profile }) => {
      writeFileSync(path.join(dir, `alloc-${process.pid}.json`), JSON.stringify(summarize(profile)));
    });
  });
}
