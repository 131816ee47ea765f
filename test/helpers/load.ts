/**
 * A steady load generator for chaos scenarios: N concurrent keep-alive clients,
 * each sending one request after the other for D seconds (or until stopped),
 * counting status codes and transport errors. Every request is accounted for:
 * sent = sum(codes) + errors.
 */
import http from 'node:http';

export interface LoadOptions {
  port: number;
  /** Host header (selects the route). */
  host: string;
  path?: string;
  /** Concurrent clients. @default 16 */
  concurrency?: number;
  /** Stop after this long; without it, run until stop(). */
  durationMs?: number;
  /** Per-request timeout on the client side. @default 30000 */
  requestTimeoutMs?: number;
  headers?: http.OutgoingHttpHeaders;
}

export interface FailureSample {
  atMs: number;
  status: number | undefined;
  error: string | undefined;
  /** x-waypost-error of a proxy-made answer. */
  proxyError: string | undefined;
}

export interface LoadReport {
  sent: number;
  /** Status code → count. */
  codes: Record<number, number>;
  /** Transport error code (ECONNRESET, timeout …) → count. */
  errors: Record<string, number>;
  /** Answers that are not 2xx plus transport errors. */
  failed: number;
  durationMs: number;
  /** The first few failures, with the time since start. */
  samples: FailureSample[];
  /** Time since start of every failure (ms), in order. */
  failureTimes: number[];
}

export interface RunningLoad {
  /** Requests sent so far (all finished or in flight). */
  readonly sent: number;
  /** Requests in flight right now. */
  readonly inflight: number;
  /** Failures so far. */
  readonly failed: number;
  /** Ends the loops, waits for in-flight requests, reports. */
  stop(): Promise<LoadReport>;
  /** Resolves when the duration has passed and every loop ended. */
  readonly done: Promise<LoadReport>;
}

const MAX_SAMPLES = 20;

export function startLoad(options: LoadOptions): RunningLoad {
  const concurrency = options.concurrency ?? 16;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const started = performance.now();
  const codes: Record<number, number> = {};
  const errors: Record<string, number> = {};
  const samples: FailureSample[] = [];
  const failureTimes: number[] = [];
  let sent = 0;
  let inflight = 0;
  let failed = 0;
  let stopping = false;
  const deadline = options.durationMs === undefined ? Infinity : started + options.durationMs;

  const fail = (sample: Omit<FailureSample, 'atMs'>): void => {
    failed++;
    const atMs = Math.round(performance.now() - started);
    failureTimes.push(atMs);
    if (samples.length < MAX_SAMPLES) samples.push({ atMs, ...sample });
  };

  const once = (): Promise<void> =>
    new Promise((resolve) => {
      sent++;
      inflight++;
      const finish = (): void => {
        inflight--;
        resolve();
      };
      const req = http.request(
        {
          host: '127.0.0.1',
          port: options.port,
          path: options.path ?? '/',
          method: 'GET',
          agent,
          headers: { host: options.host, ...options.headers },
          timeout: options.requestTimeoutMs ?? 30_000,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          res.on('error', () => {});
          res.resume();
          res.on('end', () => {
            codes[status] = (codes[status] ?? 0) + 1;
            if (status < 200 || status >= 300) {
              const proxyError = res.headers['x-waypost-error'];
              fail({ status, error: undefined, proxyError: typeof proxyError === 'string' ? proxyError : undefined });
            }
            finish();
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('client timeout'), { code: 'CLIENT_TIMEOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => {
        const code = err.code ?? err.message;
        errors[code] = (errors[code] ?? 0) + 1;
        fail({ status: undefined, error: code, proxyError: undefined });
        finish();
      });
      req.end();
    });

  const loop = async (): Promise<void> => {
    while (!stopping && performance.now() < deadline) await once();
  };

  const report = (): LoadReport => ({
    sent,
    codes: { ...codes },
    errors: { ...errors },
    failed,
    durationMs: Math.round(performance.now() - started),
    samples: [...samples],
    failureTimes: [...failureTimes],
  });

  const done = Promise.all(Array.from({ length: concurrency }, loop)).then(() => {
    agent.destroy();
    return report();
  });

  return {
    get sent() {
      return sent;
    },
    get inflight() {
      return inflight;
    },
    get failed() {
      return failed;
    },
    stop() {
      stopping = true;
      return done;
    },
    done,
  };
}
