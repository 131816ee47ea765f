/**
 * The seams of a route's policy chain (DESIGN §8). A step is built once per
 * route when the route table is built (chain.ts) and then runs per request with
 * no further lookups: request steps before the pick, response steps on the
 * response head, and the attempt-level parts (split, concurrency, retry) where
 * the balancer and the attempt loop consult them.
 *
 * This folder knows nothing of node:http servers beyond these interfaces: the
 * proxy implements PolicyRequest (src/proxy/policy-request.ts).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';

/** Proxy-made answers a step may give (a subset of src/proxy/responses.ts PROXY_ERRORS). */
export type PolicyErrorCode =
  | 'rate_limited'
  | 'overloaded'
  | 'forbidden'
  | 'auth_unavailable'
  | 'no_healthy_instance'
  | 'upstream_failed'
  | 'upstream_timeout';

/** One request as the policy steps see it. */
export interface PolicyRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The trusted client address (after X-Forwarded-For from trusted proxies). */
  readonly clientIp: string;
  readonly requestId: string;
  /** Host without port, lower-cased. */
  readonly host: string;
  readonly service: string;
  readonly routeId: string;
  /** `https` on a TLS listener, else `http`. */
  readonly scheme: 'http' | 'https';
  /** Path with query as it goes upstream (after stripPrefix); `rewrite` replaces it. */
  upstreamPath: string;
  /** The instance (HOST:PORT) of the current attempt; "" before the first pick. */
  readonly instance: string;
  /** Answers with a proxy error (JSON body, X-Request-Id, gRPC form for gRPC calls); `headers` are set first. */
  reject(code: PolicyErrorCode, headers?: OutgoingHttpHeaders): void;
  /** Answers with a response the proxy makes itself (a redirect, a CORS preflight, an auth service's denial). */
  respond(status: number, headers: OutgoingHttpHeaders, body?: Buffer | string): void;
}

/**
 * true: the request goes on; false: the step answered it (through reject/respond).
 * A step that waits (forward-auth) returns a promise; every other step answers synchronously.
 */
export type StepResult = boolean | Promise<boolean>;

export interface RequestStep {
  run(request: PolicyRequest): StepResult;
}

/**
 * Runs on the client response head of an upstream answer, before it is written: edits `head`
 * (a flat `[name, value, …]` list, names lower-case as clientResponseHead gives them) in place and
 * returns where the body goes: `sink` itself, or a transform in front of it (compression).
 */
export interface ResponseStep {
  onHead(request: PolicyRequest, status: number, head: string[], sink: Writable): Writable;
}
