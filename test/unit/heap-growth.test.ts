/**
 * src/heap-growth.ts: the growing factor is set at run time (V8 applies it at the next full GC,
 * which `--trace-gc-verbose` shows as the factor of the new limit), and left alone when the
 * process was started with its own.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT, namesGrowingFactor } from '../../src/heap-growth.js';

const MODULE = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/heap-growth.js')).href;
/** Calls the built module in a fresh process, then forces a full GC so V8 recomputes its limit. */
const SCRIPT = `import(${JSON.stringify(MODULE)}).then((m) => { console.log('set=' + m.growOldGenerationForThroughput()); gc(); });`;

async function factorsAfterCall(nodeFlags: string[]): Promise<{ set: boolean; factors: string[] }> {
  const { stdout } = await promisify(execFile)(process.execPath, [...nodeFlags, '--trace-gc-verbose', '--expose-gc', '-e', SCRIPT], { timeout: 20_000 });
  const factors = [...stdout.matchAll(/\[HeapController\] Limit: .*\((\d+\.\d)\)/g)].map((m) => m[1]!);
  return { set: /set=true/.test(stdout), factors };
}

describe('old-generation growing factor', () => {
  it('applies at the next full GC after it is set', async () => {
    const { set, factors } = await factorsAfterCall([]);
    expect(set).toBe(true);
    expect(factors.at(-1)).toBe((1 + HEAP_GROWING_PERCENT / 100).toFixed(1));
  });

  it('keeps the factor the process was started with', async () => {
    const { set, factors } = await factorsAfterCall(['--heap-growing-percent=50']);
    expect(set).toBe(false);
    expect(factors.at(-1)).toBe('1.5');
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
