/**
 * The built CLI (dist/cli.js, made by `npm test`'s pretest) as a real child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist', 'cli.js');

/**
 * How long a test lets one CLI process (proxy, sidecar) take to start: about 1 s on a quiet
 * machine, 4-5 s seen on a loaded 2-core CI runner, three times that here. A safety bound
 * for waits that include a start-up; no test's property is start-up speed.
 */
export const PROCESS_START_BUDGET_MS = 15_000;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const quietEnv = (env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
  const base = { ...process.env };
  for (const key of Object.keys(base)) if (key.startsWith('WAYPOST_')) delete base[key];
  return { ...base, ...env };
};

/** Run to completion (bounded by timeoutMs, then SIGKILL). */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: quietEnv(options.env), cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? PROCESS_START_BUDGET_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface RunningProxy {
  child: ChildProcess;
  admin: { host: string; port: number };
  http: { host: string; port: number }[];
  output: () => string;
  /** Resolves with the exit code after the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `waypost proxy …` and wait for its "waypost started" log line. */
export function startProxyProcess(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunningProxy> {
  const child = spawn(process.execPath, [CLI, 'proxy', ...args], { env: quietEnv(options.env), cwd: ROOT });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`proxy did not start in time:\n${output}`));
    }, options.timeoutMs ?? PROCESS_START_BUDGET_MS);
    const onData = (chunk: Buffer) => {
      output += chunk;
      for (const line of output.split('\n')) {
        if (!line.includes('"waypost started"')) continue;
        const entry = JSON.parse(line) as { admin: { host: string; port: number }; http?: { host: string; port: number }[] };
        clearTimeout(timer);
        resolve({
          child,
          admin: entry.admin,
          http: entry.http ?? [],
          output: () => output,
          exited,
          async stop(signal = 'SIGTERM') {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
        return;
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c: Buffer) => (output += c));
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`proxy exited with ${code} before starting:\n${output}`));
    });
  });
}
