/**
 * The sidecar started the way a user starts it: the exact command line of the
 * README's Quick start, and through `npx waypost register` (npm → sh → node,
 * where npm exits on SIGTERM without passing it on). Either way, SIGTERM to the
 * PID that was started must end in DRAINING, then deregistered, with no
 * process of the tree left running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startProxyProcess, type RunningProxy } from '../helpers/cli.js';
import { startBackend, type Backend } from '../helpers/backends.js';

let proxy: RunningProxy;
let backend: Backend;
let base = '';
const started: ChildProcess[] = [];
const treePids = new Set<number>();

beforeAll(async () => {
  backend = await startBackend({ name: 'orders' });
  proxy = await startProxyProcess(['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--access-log', 'off']);
  base = `http://127.0.0.1:${proxy.admin.port}`;
});

afterAll(async () => {
  // The whole tree: killing npm alone would leave its shell and the sidecar running.
  for (const child of started) for (const pid of [child.pid!, ...descendants(child.pid!)]) treePids.add(pid);
  for (const pid of treePids) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  await proxy?.stop('SIGKILL');
  await backend?.close();
});

/** The sidecar line of the README's Quick start, as words. */
function readmeSidecarCommand(): string[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1));
  const line = quickStart.split('\n').find((l) => / register --service /.test(l) && !l.startsWith('`'));
  if (!line) throw new Error('no sidecar command in the README Quick start');
  return line.trim().split(/\s+/);
}

/** pid → parent pid for every process, from /proc. */
function parents(): Map<number, number> {
  const map = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // "pid (comm) state ppid …"; comm may hold spaces, so read after the last ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      map.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // It ended while we looked.
    }
  }
  return map;
}

function descendants(root: number): number[] {
  const map = parents();
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of map) if (parent === pid) found.push(child), walk(child);
  };
  walk(root);
  return found;
}

/** Alive and not a zombie (an exited orphan may wait for its reaper). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

interface Instance {
  id: string;
  port: number;
  status: string;
}

/** Follows a service through blocking queries; records each state of the instance on `port` until it is gone. */
async function followInstance(service: string, port: number, seen: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let revision = 0;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`instance still registered after ${timeoutMs} ms; seen ${seen.join(' → ')}`);
    // A blocking query once the service exists; an unknown service answers 404 at once, so pause then.
    const query = revision === 0 ? '' : `?wait=${revision}&timeout=5s`;
    const res = await fetch(`${base}/v1/services/${service}${query}`);
    const body = (await res.json()) as { revision?: number; instances?: Instance[] };
    if (res.status === 404) await new Promise((r) => setTimeout(r, 50));
    revision = body.revision ?? 0;
    const state = body.instances?.find((i) => i.port === port)?.status ?? 'gone';
    if (seen.at(-1) !== state && (seen.length > 0 || state !== 'gone')) seen.push(state);
    if (state === 'gone' && seen.length > 1) return;
  }
}

async function until(probe: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what()}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts `words` from the repo root, waits for the registration, SIGTERMs the started PID; returns what was seen. */
async function registerThenTerminate(
  service: string,
  words: string[],
): Promise<{ seen: string[]; tree: number[]; output: () => string; exited: Promise<number | null> }> {
  const [command, ...args] = words;
  const child = spawn(command === 'node' ? process.execPath : command!, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c));
  child.stderr!.on('data', (c: Buffer) => (output += c));
  const seen: string[] = [];
  const followed = followInstance(service, backend.port, seen, 120_000);
  followed.catch(() => {}); // awaited below; a failure before that must not be unhandled
  // npx alone takes seconds to start on a busy machine.
  await until(() => seen.includes('UP'), 60_000, () => `registration (output: ${output})`);
  const tree = [child.pid!, ...descendants(child.pid!)];
  for (const pid of tree) treePids.add(pid);
  child.kill('SIGTERM');
  await followed;
  await until(() => tree.every((pid) => !isRunning(pid)), 15_000, () => `the process tree to end (${tree.filter(isRunning).join(', ')} running)`);
  return { seen, tree, output: () => output, exited };
}

describe('the sidecar as the README starts it', () => {
  it('runs the Quick start command line; SIGTERM drains, deregisters and exits 0', async () => {
    const words = readmeSidecarCommand();
    expect(words.slice(0, 3)).toEqual(['node', 'dist/cli.js', 'register']);
    const address = words.indexOf('--address');
    words[address + 1] = `127.0.0.1:${backend.port}`;
    // The README relies on the default admin address; tests never use fixed ports.
    words.push('--registry', base, '--drain-delay', '1s', '--service', 'readme');
    const { seen, output, exited } = await registerThenTerminate('readme', words);
    expect(seen).toEqual(['UP', 'DRAINING', 'gone']);
    expect(await exited).toBe(0);
    expect(output()).toContain('"msg":"deregistered"');
  }, 90_000);

  it('started through `npx waypost register`, SIGTERM to npx still drains and deregisters, and no orphan is left', async () => {
    const { seen, tree, output } = await registerThenTerminate('via-npx', [
      'npx', 'waypost', 'register', '--service', 'via-npx', '--address', `127.0.0.1:${backend.port}`,
      '--check-path', '/healthz', '--registry', base, '--drain-delay', '1s',
    ]);
    // npm → sh → node: the sidecar is a grandchild of the PID that got the signal.
    expect(tree.length).toBeGreaterThanOrEqual(2);
    expect(seen).toEqual(['UP', 'DRAINING', 'gone']);
    expect(output()).toContain('the process that started the sidecar exited');
  }, 180_000);
});
