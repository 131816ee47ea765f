/**
 * Every process the bench starts goes through one ProcessGroup, so that every one of them is
 * stopped by its id at the end: on success, on a thrown error, on Ctrl-C and on process exit.
 *
 * Children are started detached (their own process group) so that a stop reaches what they
 * fork themselves (nginx's worker, a taskset-exec'd child) without matching anything by name.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the child's stdout goes: 'pipe' (kept, last lines on failure) or an open file descriptor. */
  stdout?: 'pipe' | number;
  /** Pin to this CPU with taskset (undefined = no pinning). */
  cpu?: number | undefined;
}

export class Started {
  private output = '';
  private ended = false;
  /** Resolves when the process has exited or could not be spawned at all. */
  readonly done: Promise<void>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer): void => {
      // Only the tail matters (it goes into a skip reason); keep memory flat under chatty children.
      this.output = (this.output + chunk.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.done = new Promise<void>((resolve) => {
      const end = (): void => {
        this.ended = true;
        resolve();
      };
      child.once('exit', end);
      child.once('error', (error) => {
        this.output += `\nspawn failed: ${error.message}`;
        end();
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get exited(): boolean {
    return this.ended;
  }

  /** The last lines the child wrote, for error messages. */
  tail(lines = 8): string {
    return this.output.trim().split('\n').slice(-lines).join('\n');
  }

  /** The most telling line of the child's output (the first error line, else the last lines). */
  summary(): string {
    const lines = this.output.trim().split('\n');
    const index = lines.findIndex((line) => /error|ALERT|\[emerg\]|fatal|panic|cannot|failed/i.test(line));
    return index >= 0 ? lines.slice(index, index + 2).join(' | ').trim() : lines.slice(-3).join(' | ').trim();
  }

  /** Resolves with the first stdout line that parses as JSON with `ready: true`. */
  readyMessage<T>(timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let buffered = '';
      const timer = setTimeout(() => finish(new Error(`${this.name} did not report ready within ${timeoutMs} ms: ${this.summary()}`)), timeoutMs);
      const onData = (chunk: Buffer): void => {
        buffered += chunk.toString();
        for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          try {
            const message = JSON.parse(line) as { ready?: boolean };
            if (message.ready === true) return finish(undefined, message as T);
          } catch {
            // not the ready line
          }
        }
      };
      let settled = false;
      const finish = (error: Error | undefined, value?: T): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.child.stdout?.off('data', onData);
        if (error) reject(error);
        else resolve(value as T);
      };
      this.child.stdout?.on('data', onData);
      void this.done.then(() => finish(new Error(`${this.name} exited before it was ready: ${this.summary()}`)));
    });
  }
}

export class ProcessGroup {
  private readonly running = new Set<Started>();
  private handlersInstalled = false;
  /**
   * A command every later start runs under (bench/instructions.ts: valgrind), e.g.
   * `['valgrind', '--tool=callgrind']`; empty = none. Set after the backends started.
   */
  wrapper: readonly string[] = [];

  /** Start `command args`, pinned when asked, tracked until stopped. */
  start(name: string, command: string, args: string[], options: StartOptions = {}): Started {
    this.installExitHandlers();
    if (this.wrapper.length > 0) [command, args] = [this.wrapper[0]!, [...this.wrapper.slice(1), command, ...args]];
    const [file, argv] =
      options.cpu === undefined ? [command, args] : ['taskset', ['-c', String(options.cpu), command, ...args]];
    const stdio: StdioOptions = ['ignore', options.stdout ?? 'pipe', 'pipe'];
    const child = spawn(file, argv, {
      cwd: options.cwd ?? REPO_ROOT,
      env: options.env ?? process.env,
      stdio,
      detached: true,
    });
    const started = new Started(name, child);
    this.running.add(started);
    void started.done.then(() => this.running.delete(started));
    return started;
  }

  /**
   * Run a self-contained TypeScript file from bench/lib/children as plain JavaScript
   * (`node --input-type=module -e`), so the child carries no TypeScript loader: a loader thread
   * would add ~40 MiB to the RSS the bench reports. Bare imports resolve from the repo root.
   */
  startNodeScript(name: string, childFile: string, config: unknown, options: StartOptions = {}): Started {
    const source = readFileSync(path.join(REPO_ROOT, 'bench', 'lib', 'children', childFile), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    return this.start(name, process.execPath, ['--input-type=module', '-e', outputText], {
      ...options,
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env, BENCH_CHILD_CONFIG: JSON.stringify(config) },
    });
  }

  /** SIGTERM the child's process group, SIGKILL it after `graceMs`. */
  async stop(started: Started, graceMs = 3000): Promise<void> {
    if (!started.exited) {
      signalGroup(started.pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(started.pid, 'SIGKILL'), graceMs);
      await started.done;
      clearTimeout(timer);
    }
    // Whatever the leader left behind in its group (an nginx worker) goes too.
    signalGroup(started.pid, 'SIGKILL');
    this.running.delete(started);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running].map((started) => this.stop(started)));
  }

  /** Synchronous last resort for process exit: SIGKILL every group still tracked. */
  killAllNow(): void {
    for (const started of this.running) signalGroup(started.pid, 'SIGKILL');
    this.running.clear();
  }

  private installExitHandlers(): void {
    if (this.handlersInstalled) return;
    this.handlersInstalled = true;
    process.once('exit', () => this.killAllNow());
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        this.killAllNow();
        process.exit(130);
      });
    }
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

/** Resolves once `host:port` accepts TCP connections; rejects after `timeoutMs` or when `started` exits. */
export async function waitForPort(port: number, timeoutMs: number, started?: Started, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (started?.exited) throw new Error(`${started.name} exited during start: ${started.summary()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, host);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) {
      throw new Error(`${started?.name ?? 'process'} did not listen on ${host}:${port} within ${timeoutMs} ms${started ? `: ${started.summary()}` : ''}`);
    }
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
