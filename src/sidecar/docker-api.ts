/**
 * A minimal Docker Engine API client (also served by Podman) over a unix socket
 * or TCP, on node:http: list containers, inspect one, and follow /events as
 * newline-delimited JSON. Only what the registrar needs; no dependency.
 *
 * Event filtering is `type=container` only; the caller picks actions itself,
 * because Podman 4.3's compat API mishandles `event=` filters.
 */
import http from 'node:http';
import { ErrorCodes, WaypostError, configError, describeError } from '../errors.js';

/** One row of `GET /containers/json`. */
export interface ContainerSummary {
  readonly Id: string;
  readonly Names?: readonly string[];
  readonly Labels?: Readonly<Record<string, string>> | null;
  readonly State?: string;
}

/** The parts of `GET /containers/{id}/json` the registrar reads. */
export interface ContainerInspect {
  readonly Id: string;
  readonly Name?: string;
  readonly State?: { readonly Running?: boolean; readonly Status?: string };
  readonly Config?: {
    readonly Labels?: Readonly<Record<string, string>> | null;
    readonly ExposedPorts?: Readonly<Record<string, unknown>> | null;
  };
  readonly HostConfig?: { readonly NetworkMode?: string };
  readonly NetworkSettings?: {
    readonly IPAddress?: string;
    readonly Ports?: Readonly<Record<string, readonly { readonly HostIp?: string; readonly HostPort?: string }[] | null>> | null;
    readonly Networks?: Readonly<Record<string, { readonly IPAddress?: string }>> | null;
  };
}

/** One line of `GET /events`. */
export interface DockerEvent {
  readonly Type?: string;
  readonly Action?: string;
  /** Older spelling of Action. */
  readonly status?: string;
  readonly id?: string;
  readonly Actor?: { readonly ID?: string; readonly Attributes?: Readonly<Record<string, string>> };
}

export type ContainerFilters = Readonly<Record<string, readonly string[]>>;

export interface EventStreamHandlers {
  /** The engine accepted the subscription (response headers arrived). */
  onConnected(): void;
  onEvent(event: DockerEvent): void;
}

const REQUEST_TIMEOUT_MS = 10_000;

export class DockerApi {
  readonly #connect: { socketPath: string } | { host: string; port: number };
  readonly #describe: string;

  /**
   * @param dockerHost `unix:///run/docker.sock`, `tcp://127.0.0.1:2375` or `http://…`.
   * @throws config error naming `--docker-host` when the URL has another form.
   */
  constructor(dockerHost: string) {
    this.#describe = dockerHost;
    if (dockerHost.startsWith('unix://')) {
      const socketPath = dockerHost.slice('unix://'.length);
      if (!socketPath.startsWith('/')) throw configError('--docker-host', `unix socket path must be absolute, got "${dockerHost}"`);
      this.#connect = { socketPath };
      return;
    }
    let url: URL;
    try {
      url = new URL(dockerHost);
    } catch {
      throw configError('--docker-host', `expected unix:///PATH or tcp://HOST:PORT, got "${dockerHost}"`);
    }
    if (url.protocol !== 'tcp:' && url.protocol !== 'http:') {
      throw configError('--docker-host', `expected unix:///PATH or tcp://HOST:PORT, got "${dockerHost}"`);
    }
    this.#connect = { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 2375) };
  }

  /** Running containers matching the filters (e.g. `{ label: ['waypost.service'] }`). */
  async listContainers(filters: ContainerFilters = {}): Promise<ContainerSummary[]> {
    const query = new URLSearchParams({ filters: JSON.stringify(filters) });
    return (await this.#json('GET', `/containers/json?${query}`)) as ContainerSummary[];
  }

  /** `undefined` when the container does not exist (any more). */
  async inspect(id: string): Promise<ContainerInspect | undefined> {
    return (await this.#json('GET', `/containers/${encodeURIComponent(id)}/json`, true)) as ContainerInspect | undefined;
  }

  /**
   * Follows `/events` for containers until the engine ends the stream or
   * `signal` aborts (both resolve); rejects when the engine cannot be reached.
   */
  followEvents(handlers: EventStreamHandlers, signal: AbortSignal): Promise<void> {
    const query = new URLSearchParams({ filters: JSON.stringify({ type: ['container'] }) });
    return new Promise((resolve, reject) => {
      if (signal.aborted) return resolve();
      const req = http.request({ ...this.#connect, method: 'GET', path: `/events?${query}`, agent: false }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(this.#failure(`GET /events answered ${res.statusCode}`));
        }
        handlers.onConnected();
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let newline: number;
          while ((newline = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, newline).trim();
            buffered = buffered.slice(newline + 1);
            if (line) parseEvent(line, handlers);
          }
        });
        res.on('end', () => resolve());
        res.on('error', () => resolve());
        res.on('aborted', () => resolve());
      });
      const onAbort = () => {
        req.destroy();
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => signal.removeEventListener('abort', onAbort));
      req.on('error', (err) => (signal.aborted ? resolve() : reject(this.#failure(describeError(err)))));
      req.end();
    });
  }

  #json(method: string, path: string, allow404 = false): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const req = http.request({ ...this.#connect, method, path, agent: false, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (err) => reject(this.#failure(describeError(err))));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 404 && allow404) return resolve(undefined);
          if (res.statusCode !== 200) return reject(this.#failure(`${method} ${path} answered ${res.statusCode}: ${text.slice(0, 200)}`));
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(this.#failure(`${method} ${path} answered with invalid JSON`));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', (err) => reject(this.#failure(describeError(err))));
      req.end();
    });
  }

  #failure(why: string): WaypostError {
    return new WaypostError(ErrorCodes.REGISTRY_UNAVAILABLE, `container engine at ${this.#describe}: ${why}`);
  }
}

function parseEvent(line: string, handlers: EventStreamHandlers): void {
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    return; // a torn or foreign line; the next reconcile covers anything missed
  }
  if (typeof event === 'object' && event !== null) handlers.onEvent(event as DockerEvent);
}
