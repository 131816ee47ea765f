/**
 * src/heap-growth.ts: the growing factor is set at run time (V8 applies it at the next full GC,
 * which `--trace-gc-verbose` prints as the factor of the new limit), follows the heap that survives
 * full GCs (a constant room, not a constant factor), and is left alone when the process was
 * started with its own.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { MAX_GROWING_PERCENT, OLD_GENERATION_ROOM_BYTES, growingPercentFor, namesGrowingFactor } from '../../src/heap-growth.js';

const MODULE = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/heap-growth.js')).href;
const MiB = 1024 * 1024;

/**
 * In a fresh process: start the growing factor, force a full GC; then (with `retainMiB`) keep that
 * much alive, force a full GC (the proxy re-sets the factor after it), wait for the GC observer
 * and force one more, whose limit shows the factor for the bigger heap.
 */
function script(retainMiB: number): string {
  return `import(${JSON.stringify(MODULE)}).then(async (m) => {
    console.log('set=' + m.growOldGenerationForThroughput());
    gc();
    if (${retainMiB} > 0) {
      globalThis.kept = Array.from({ length: ${retainMiB} }, () => new Array(${MiB / 8}).fill(1.5));
      gc();
      await new Promise((resolve) => setTimeout(resolve, 200));
      console.log('expected=' + m.growingPercentFor(m.oldGenerationBytes()));
      gc();
    }
    process.exit(0);
  });`;
}

async function run(nodeFlags: string[], retainMiB = 0): Promise<{ set: boolean; factors: string[]; expected: number | undefined }> {
  const { stdout } = await promisify(execFile)(process.execPath, [...nodeFlags, '--trace-gc-verbose', '--expose-gc', '-e', script(retainMiB)], {
    timeout: 30_000,
    maxBuffer: 16 * MiB,
  });
  const factors = [...stdout.matchAll(/\[HeapController\] Limit: .*\((\d+\.\d)\)/g)].map((m) => m[1]!);
  const expected = /expected=(\d+)/.exec(stdout)?.[1];
  return { set: /set=true/.test(stdout), factors, expected: expected === undefined ? undefined : Number(expected) };
}

describe('old-generation growing factor', () => {
  it('applies 3× at the next full GC while the heap is small', async () => {
    const { set, factors } = await run([]);
    expect(set).toBe(true);
    expect(factors.at(-1)).toBe((1 + MAX_GROWING_PERCENT / 100).toFixed(1));
  });

  it('gives a heap that grew only the constant room: a smaller factor after the next full GC', async () => {
    const { factors, expected } = await run([], 160);
    expect(expected).toBeGreaterThan(0);
    expect(expected).toBeLessThan(MAX_GROWING_PERCENT);
    expect(factors.at(-1)).toBe((1 + expected! / 100).toFixed(1));
  });

  it('keeps the factor the process was started with', async () => {
    const { set, factors } = await run(['--heap-growing-percent=50']);
    expect(set).toBe(false);
    expect(factors.at(-1)).toBe('1.5');
  });

  it.each([
    [0, MAX_GROWING_PERCENT],
    [16 * MiB, MAX_GROWING_PERCENT],
    [32 * MiB, 100],
    [64 * MiB, 50],
    [320 * MiB, 10],
    [400 * MiB, 0],
  ])('a heap of %d bytes gets growing percent %d', (heap, percent) => {
    expect(growingPercentFor(heap)).toBe(percent);
    if (percent > 0 && percent < MAX_GROWING_PERCENT) expect(heap * (percent / 100)).toBeCloseTo(OLD_GENERATION_ROOM_BYTES, -5);
  });

  it.each([
    ['--heap-growing-percent=50', true],
    ['--heap_growing_percent=50', true],
    ['--max-old-space-size=512 --heap-growing-percent 10', true],
    ['--max-old-space-size=512', false],
    ['--heap-growing', false],
    ['', false],
  ])('Node flags %j name the factor: %s', (flags, named) => {
    expect(namesGrowingFactor(flags)).toBe(named);
  });
});
