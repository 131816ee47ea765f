/**
 * A real `prometheus` (Debian's package) for a test: free loopback port, TSDB in a temp dir,
 * scraping the given targets every second and evaluating the given rule files every second;
 * queried through its HTTP API and stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export interface PrometheusOptions {
  /** `host:port` targets of job "waypost" (as in config/prometheus.yml). */
  targets: string[];
  /** Absolute paths of rule files to load. */
  ruleFiles?: string[];
}

export interface Sample {
  metric: Record<string, string>;
  /** Instant vector: one value; matrix: `values`. */
  value?: [number, string];
  values?: [number, string][];
}

export interface QueryResult {
  resultType: 'vector' | 'matrix' | 'scalar' | 'string';
  result: Sample[] | [number, string];
}

export class PrometheusServer {
  readonly url: string;
  readonly #child: ChildProcess;
  readonly #dir: string;
  #output = '';

  private constructor(url: string, child: ChildProcess, dir: string) {
    this.url = url;
    this.#child = child;
    this.#dir = dir;
    const keep = (chunk: Buffer) => (this.#output = (this.#output + chunk.toString()).slice(-8000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  static async start(options: PrometheusOptions): Promise<PrometheusServer> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'waypost-prometheus-'));
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: options.ruleFiles ?? [],
      scrape_configs: [{ job_name: 'waypost', metrics_path: '/metrics', static_configs: [{ targets: options.targets }] }],
    };
    writeFileSync(path.join(dir, 'prometheus.yml'), stringify(config));
    const port = await freePort();
    const child = spawn(
      'prometheus',
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, child, dir);
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`prometheus exited with ${code}: ${server.#output}`))),
    );
    exited.catch(() => {});
    try {
      await Promise.race([
        waitFor('prometheus ready', async () => (await fetch(`${server.url}/-/ready`)).ok, { timeoutMs: 20_000, intervalMs: 100 }),
        exited,
      ]);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Instant query through /api/v1/query; throws with Prometheus's error text on a bad query. */
  async query(expr: string): Promise<QueryResult> {
    const res = await fetch(`${this.url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
    const body = (await res.json()) as { status: string; data?: QueryResult; error?: string };
    if (body.status !== 'success' || !body.data) throw new Error(`query failed: ${body.error ?? res.status}: ${expr}`);
    return body.data;
  }

  /** Samples of an instant query that answers a vector (anything else throws). */
  async vector(expr: string): Promise<Sample[]> {
    const data = await this.query(expr);
    if (data.resultType !== 'vector') throw new Error(`${expr} answers a ${data.resultType}, not a vector`);
    return data.result as Sample[];
  }

  /** GET an API path (`/api/v1/rules`, …) and return its `data`. */
  async api<T>(pathAndQuery: string): Promise<T> {
    const body = (await (await fetch(`${this.url}${pathAndQuery}`)).json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${pathAndQuery}: ${body.error}`);
    return body.data;
  }

  /** SIGTERM by PID, SIGKILL after 10 s; removes the TSDB. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => process.kill(child.pid!, 'SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        process.kill(child.pid!, 'SIGTERM');
      });
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
