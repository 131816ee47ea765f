/**
 * Load generators behind one shape: autocannon (the named dependency, run in this process,
 * which is pinned to the load CPU) and wrk when installed (one thread unless asked, pinned to the same CPU).
 */
import autocannon from 'autocannon';
import { runPaced } from './paced.js';
import { hasCommand, type Pinning } from './pin.js';
import type { LoadRequest, LoadResult, LoadTool } from './load-types.js';
import { sleep, type ProcessGroup } from './processes.js';

export type { LoadRequest, LoadResult, LoadTool } from './load-types.js';

export function wrkAvailable(): boolean {
  return hasCommand('wrk');
}

export async function runAutocannon(request: LoadRequest): Promise<LoadResult> {
  const result = await autocannon({
    url: request.url,
    connections: request.connections,
    duration: request.durationSeconds,
    pipelining: 1,
    headers: request.hostHeader ? { host: request.hostHeader } : {},
  });
  return {
    requestsPerSecond: result.duration > 0 ? result.requests.total / result.duration : 0,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

/** A counted load: exactly `amount` keep-alive requests, `connections` at a time, one in flight on each. */
export interface CountedLoad {
  url: string;
  hostHeader: string | undefined;
  amount: number;
  connections: number;
  /** POST this body instead of a GET. */
  body?: Buffer | undefined;
  /** Errors and timeouts tolerated (a server that closes after N requests, as nginx does); non-2xx never. */
  maxFailures?: number;
  /** Per-request timeout in seconds (a proxy under valgrind answers slowly). */
  timeoutSeconds?: number;
  /** Headers sent after Host, in this order (e.g. BROWSER_HEADERS). */
  headers?: Readonly<Record<string, string>>;
}

/**
 * What a browser's navigation sends besides Host and Connection, in Chrome's order: a request
 * with just those understates the work each header costs a proxy. autocannon itself always
 * writes `Connection: keep-alive` right after the request line, before every header given here
 * (Host too, when it is given), so Connection is never the last field.
 */
export const BROWSER_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cache-control': 'max-age=0',
  'upgrade-insecure-requests': '1',
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
  'sec-fetch-site': 'none',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'accept-encoding': 'gzip, deflate, br, zstd',
  'accept-language': 'en-US,en;q=0.9',
});

/**
 * Sends a counted load (bench/syscalls.ts, bench/instructions.ts divide what they counted by it)
 * and returns how many requests were answered 2xx; throws past the tolerated failures.
 */
export async function sendCounted(load: CountedLoad): Promise<number> {
  const result = await autocannon({
    url: load.url,
    connections: load.connections,
    amount: load.amount,
    pipelining: 1,
    ...(load.timeoutSeconds === undefined ? {} : { timeout: load.timeoutSeconds }),
    headers: { ...(load.hostHeader ? { host: load.hostHeader } : {}), ...load.headers },
    ...(load.body === undefined ? {} : { method: 'POST' as const, body: load.body }),
  });
  if (result.non2xx > 0 || result.errors + result.timeouts > (load.maxFailures ?? 0)) {
    throw new Error(`load saw ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  }
  return result['2xx'];
}

export async function runWrk(request: LoadRequest, group: ProcessGroup, pinning: Pinning): Promise<LoadResult> {
  // wrk takes whole seconds only.
  const seconds = Math.max(1, Math.round(request.durationSeconds));
  const args = [`-t${request.threads ?? 1}`, `-c${request.connections}`, `-d${seconds}s`, '--latency'];
  if (request.hostHeader) args.push('-H', `Host: ${request.hostHeader}`);
  args.push(request.url);
  const output = await runLoadTool(group, 'wrk', args, pinning, seconds);
  return parseWrkOutput(output);
}

const TIME_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function parseWrkTime(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m|h)$/.exec(text);
  if (!match) throw new Error(`unexpected wrk latency "${text}"`);
  return Number(match[1]) * TIME_UNITS[match[2]!]!;
}

/** Reads `wrk --latency` output: Requests/sec, the 50 % and 99 % lines, errors, non-2xx. */
export function parseWrkOutput(output: string): LoadResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(output);
  const p50 = /^\s+50%\s+(\S+)/m.exec(output);
  const p99 = /^\s+99%\s+(\S+)/m.exec(output);
  const total = /^\s+(\d+) requests in/m.exec(output);
  if (!rps || !p50 || !p99 || !total) throw new Error(`could not parse wrk output:\n${output}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const errors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  return {
    requestsPerSecond: Number(rps[1]),
    p50Ms: parseWrkTime(p50[1]!),
    p99Ms: parseWrkTime(p99[1]!),
    requests: Number(total[1]),
    errors,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  };
}

/**
 * Runs a load generator that stops itself after `seconds` (wrk, h2load) pinned to the load CPU,
 * and returns its stdout; throws with its last lines when it fails. Bounded: a tool stalled by a
 * proxy is stopped 15 s after its end.
 */
export async function runLoadTool(group: ProcessGroup, command: string, args: string[], pinning: Pinning, seconds: number): Promise<string> {
  const started = group.start(command, command, args, { cpu: pinning.loadCpu });
  let output = '';
  started.child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // 'close' (not 'exit'): the summary is the last thing the tool writes, read it all.
  const closed = new Promise<void>((resolve) => started.child.once('close', () => resolve()));
  const guard = setTimeout(() => void group.stop(started), (seconds + 15) * 1000);
  // A failed spawn may never 'close'; a second after the end is enough to flush.
  await Promise.race([closed, started.done.then(() => sleep(1000))]);
  clearTimeout(guard);
  const code = started.child.exitCode;
  if (code !== 0) throw new Error(`${command} exited with ${code ?? started.child.signalCode}: ${started.summary()}`);
  return output;
}

export function runLoad(tool: LoadTool, request: LoadRequest, group: ProcessGroup, pinning: Pinning): Promise<LoadResult> {
  if (tool === 'paced') {
    if (request.rate === undefined) throw new Error('the paced tool needs a rate (--rate)');
    return runPaced({ ...request, rate: request.rate });
  }
  return tool === 'wrk' ? runWrk(request, group, pinning) : runAutocannon(request);
}
