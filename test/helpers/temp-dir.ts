/**
 * Temp directories that tests create and never leave behind: each is removed, with all it
 * holds, when the file's tests are done (`tempDir`) or when the current test ends (`testTempDir`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, onTestFinished } from 'vitest';

function create(name: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `waypost-${name}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * For a test file or describe block: call it at their top level. Removed after all their
 * tests (after hooks run in reverse order, so processes stopped by hooks registered later
 * are gone first).
 */
export function tempDir(name: string): string {
  const { dir, remove } = create(name);
  afterAll(remove);
  return dir;
}

/** For one test: call it inside the test; removed when that test ends. */
export function testTempDir(name: string): string {
  const { dir, remove } = create(name);
  onTestFinished(remove);
  return dir;
}
