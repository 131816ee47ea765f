/**
 * The sidecar's check of the local app: an HTTP GET that must answer 2xx/3xx,
 * a gRPC health check (grpc.health.v1) that must answer SERVING, or a plain TCP
 * connect when neither is configured. Thresholds turn single
 * results into a state that flips only after `passes` successes or `fails`
 * failures in a row, so one slow answer does not pull an instance out.
 */
import http from 'node:http';
import net from 'node:net';
import { probeGrpcHealth } from '../health/grpc-probe.js';

export interface AppCheckTarget {
  readonly host: string;
  readonly port: number;
  /** HTTP path (e.g. `/healthz`); without it (and without `grpcService`) the check is a TCP connect. */
  readonly path?: string;
  /** Ask grpc.health.v1 Health/Check about this service ("" = the server as a whole) over h2c. */
  readonly grpcService?: string;
  readonly timeoutMs: number;
}

export interface CheckResult {
  readonly ok: boolean;
  /** `200`, `503`, `ECONNREFUSED`, `timeout`, `connected`. */
  readonly detail: string;
}

/** One check; never rejects. */
export function checkApp(target: AppCheckTarget): Promise<CheckResult> {
  if (target.grpcService !== undefined) return checkGrpc(target, target.grpcService);
  return target.path === undefined ? checkTcp(target) : checkHttp(target, target.path);
}

async function checkGrpc(target: AppCheckTarget, service: string): Promise<CheckResult> {
  const failure = await probeGrpcHealth({ host: target.host, port: target.port, service, timeoutMs: target.timeoutMs }).result;
  return failure === undefined ? { ok: true, detail: 'SERVING' } : { ok: false, detail: failure };
}

function checkHttp(target: AppCheckTarget, path: string): Promise<CheckResult> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: target.host, port: target.port, path, agent: false, timeout: target.timeoutMs, headers: { 'user-agent': 'waypost-sidecar' } },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        resolve({ ok: status >= 200 && status < 400, detail: String(status) });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, detail: err.code ?? err.message }));
  });
}

function checkTcp(target: AppCheckTarget): Promise<CheckResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: target.host, port: target.port });
    socket.setTimeout(target.timeoutMs, () => socket.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    socket.once('connect', () => {
      socket.destroy();
      resolve({ ok: true, detail: 'connected' });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, detail: err.code ?? err.message }));
  });
}

/** Consecutive-result thresholds (as Caddy's active checks: `passes` to go up, `fails` to go down). */
export class CheckThresholds {
  readonly #passes: number;
  readonly #fails: number;
  #healthy: boolean;
  #streak = 0;

  constructor(options: { passes: number; fails: number; initiallyHealthy: boolean }) {
    this.#passes = options.passes;
    this.#fails = options.fails;
    this.#healthy = options.initiallyHealthy;
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  /** Records one result; true when the state flipped. */
  record(ok: boolean): boolean {
    if (ok === this.#healthy) {
      this.#streak = 0;
      return false;
    }
    this.#streak += 1;
    if (this.#streak < (ok ? this.#passes : this.#fails)) return false;
    this.#healthy = ok;
    this.#streak = 0;
    return true;
  }
}
