/**
 * The HTTP client forward-auth asks its auth services through: undici Agents
 * owned by the app (not by a route table, so a config reload or a live-route
 * change keeps the kept-alive connections), bounded per auth origin, closed
 * when the app stops.
 *
 * One Agent per distinct `auth.timeout`: undici bounds connecting per Agent and
 * the answer per request, so each phase is bounded by the route's timeout with
 * undici's own timers (no timer of ours per request). Routes share a handful of
 * timeout values, so there are a handful of Agents.
 */
import { createRequire } from 'node:module';
import type { Agent } from 'undici';

/**
 * undici's index (Agent.request is added to dispatchers there) loads with the first auth check:
 * a proxy without forward-auth keeps to the engine's parts of undici (src/net/undici-parts.ts).
 */
let undici: typeof import('undici') | undefined;

/** Connections to one auth origin at most (further checks queue in undici). */
export const AUTH_MAX_CONNECTIONS = 64;
/** A denial's body is relayed up to this size; a larger one is cut and the check fails (503). */
export const AUTH_MAX_BODY_BYTES = 64 * 1024;
const KEEP_ALIVE_MS = 4_000;

/** What the auth service answered: its status, its header fields (flat `[name, value, …]`, lower-case) and, for a denial, its body. */
export interface AuthAnswer {
  readonly status: number;
  readonly headers: readonly string[];
  /** Read only when the status is not 2xx (a 2xx body is discarded). */
  readonly body: Buffer | undefined;
}

/** Why a check got no usable answer: `connect` failures never reached the service, so another instance may be asked. */
export type AuthFailure = 'connect' | 'timeout' | 'failed';

export class AuthCheckError extends Error {
  constructor(
    readonly failure: AuthFailure,
    options?: ErrorOptions,
  ) {
    super(`auth check failed: ${failure}`, options);
  }
}

/** What forward-auth needs from a client (the app's AuthClient; tests may pass their own). */
export interface AuthRequester {
  /** GET `path` on `origin` with `headers`; rejects with AuthCheckError. */
  check(origin: string, path: string, headers: Record<string, string | string[]>, timeoutMs: number): Promise<AuthAnswer>;
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function failureOf(err: unknown): AuthFailure {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return 'failed';
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  if (CONNECT_CODES.has(code)) return 'connect';
  return TIMEOUT_CODES.has(code) ? 'timeout' : 'failed';
}

export class AuthClient implements AuthRequester {
  readonly #agents = new Map<number, Agent>();
  #closed = false;

  async check(origin: string, path: string, headers: Record<string, string | string[]>, timeoutMs: number): Promise<AuthAnswer> {
    if (this.#closed) throw new AuthCheckError('failed');
    let response: Awaited<ReturnType<Agent['request']>>;
    try {
      response = await this.#agent(timeoutMs).request({ origin, path, method: 'GET', headers, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    } catch (err) {
      throw new AuthCheckError(failureOf(err), { cause: err });
    }
    const { statusCode, body } = response;
    const flat = flatHeaders(response.headers);
    if (statusCode >= 200 && statusCode < 300) {
      // Only the head matters; reading a small rest keeps the connection reusable.
      await body.dump({ limit: AUTH_MAX_BODY_BYTES }).catch(() => {});
      return { status: statusCode, headers: flat, body: undefined };
    }
    return { status: statusCode, headers: flat, body: await readBounded(body) };
  }

  /** Closes every kept-alive connection; checks after this fail (503). */
  async close(): Promise<void> {
    this.#closed = true;
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    await Promise.all(agents.map((agent) => agent.close().catch(() => {})));
  }

  #agent(timeoutMs: number): Agent {
    let agent = this.#agents.get(timeoutMs);
    if (agent === undefined) {
      undici ??= createRequire(import.meta.url)('undici') as typeof import('undici');
      agent = new undici.Agent({ connections: AUTH_MAX_CONNECTIONS, keepAliveTimeout: KEEP_ALIVE_MS, connect: { timeout: timeoutMs } });
      this.#agents.set(timeoutMs, agent);
    }
    return agent;
  }
}

/** The denial's body, at most AUTH_MAX_BODY_BYTES; more is a failed check (a cut body would mislead the client). */
async function readBounded(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      size += chunk.length;
      if (size > AUTH_MAX_BODY_BYTES) {
        body.destroy();
        throw new AuthCheckError('failed');
      }
      chunks.push(chunk);
    }
  } catch (err) {
    throw err instanceof AuthCheckError ? err : new AuthCheckError(failureOf(err), { cause: err });
  }
  return Buffer.concat(chunks, size);
}

function flatHeaders(headers: Record<string, string | string[] | undefined>): string[] {
  const flat: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) flat.push(name, v);
    else flat.push(name, value);
  }
  return flat;
}
