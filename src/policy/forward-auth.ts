/**
 * `auth` (DESIGN §8): every request is first asked of an auth service — a GET
 * carrying the request's headers (no body) and Traefik's X-Forwarded-Method /
 * -Proto / -Host / -Uri / -For — sent straight to the service's address, never
 * through the proxy. A 2xx answer lets the request on with the answer's
 * `copyHeaders` set on it; any other answer goes back to the client as it is;
 * no answer (unreachable, timeout, no instance) is 503 `auth_unavailable`: a
 * failing auth service never lets a request through.
 *
 * `service: NAME` is a registered service: its instances are balanced and
 * health-checked like a route's (the app's AuthTargets), and a check that could
 * not connect is asked of another instance. `url:` is one fixed address.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Counter } from 'prom-client';
import type { AuthConfig } from '../config/policy-schema.js';
import type { Endpoint, OutcomeListener } from '../endpoint.js';
import type { Metrics, UpstreamErrorReason } from '../metrics.js';
import { HOP_BY_HOP } from '../net/hop-by-hop.js';
import { AuthCheckError, type AuthAnswer, type AuthFailure, type AuthRequester } from './auth-client.js';
import type { PolicyRequest, RequestStep } from './step.js';

/** Instances asked at most per check when the ones before could not be connected to. */
const MAX_CONNECT_ATTEMPTS = 3;

/** How passive health hears a failed check (its bounded reasons, as for forwarded requests). */
const OUTCOME_REASONS: Record<AuthFailure, UpstreamErrorReason> = { connect: 'connect_refused', timeout: 'header_timeout', failed: 'other' };

/** Where a registered auth service's instances come from (the app implements it with the route machinery). */
export interface AuthTargets {
  /** An instance of `service` from its eligible set, picked by its balancer and skipping `tried`; undefined = none. */
  pick(service: string, request: PolicyRequest, tried: readonly Endpoint[]): Endpoint | undefined;
}

export interface ForwardAuthDeps {
  readonly metrics: Metrics;
  readonly authClient?: AuthRequester | undefined;
  readonly authTargets?: AuthTargets | undefined;
  /** Passive health hears each auth check's connect outcome, as it hears forwarded requests. */
  readonly outcomes?: OutcomeListener | undefined;
}

/** Request fields never sent to the auth service: hop-by-hop, the body's framing, and what X-Forwarded-* replace. */
const NOT_FORWARDED = new Set([...HOP_BY_HOP, 'content-length', 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);
/** Answer fields never relayed to the client: hop-by-hop and the framing (respond() frames the body itself). */
const NOT_RELAYED = new Set([...HOP_BY_HOP, 'content-length', 'x-request-id']);

export class ForwardAuth implements RequestStep {
  readonly #client: AuthRequester;
  readonly #targets: AuthTargets | undefined;
  readonly #outcomes: OutcomeListener | undefined;
  readonly #service: string | undefined;
  /** The fixed `url`'s origin, or undefined for a registered service. */
  readonly #origin: string | undefined;
  readonly #path: string;
  readonly #timeout: number;
  readonly #copy: readonly string[];
  readonly #allowed: Counter.Internal;
  readonly #denied: Counter.Internal;
  readonly #failed: Counter.Internal;

  constructor(config: AuthConfig, routeService: string, deps: ForwardAuthDeps) {
    if (deps.authClient === undefined) throw new TypeError('auth needs PolicyDeps.authClient');
    if (config.service !== undefined && deps.authTargets === undefined) throw new TypeError('auth.service needs PolicyDeps.authTargets');
    this.#client = deps.authClient;
    this.#targets = deps.authTargets;
    this.#outcomes = deps.outcomes;
    this.#service = config.service;
    if (config.url !== undefined) {
      const url = new URL(config.url);
      this.#origin = url.origin;
      this.#path = `${url.pathname}${url.search}`;
    } else {
      this.#origin = undefined;
      this.#path = config.path;
    }
    this.#timeout = config.timeout;
    this.#copy = config.copyHeaders;
    const counter = deps.metrics.authRequests;
    this.#allowed = counter.labels(routeService, 'allowed');
    this.#denied = counter.labels(routeService, 'denied');
    this.#failed = counter.labels(routeService, 'failed');
  }

  run(request: PolicyRequest): Promise<boolean> {
    return this.#check(request);
  }

  async #check(request: PolicyRequest): Promise<boolean> {
    let answer: AuthAnswer;
    try {
      answer = await this.#ask(request, authRequestHeaders(request));
    } catch {
      this.#failed.inc();
      request.reject('auth_unavailable');
      return false;
    }
    if (answer.status >= 200 && answer.status < 300) {
      this.#allowed.inc();
      copyOnto(request, this.#copy, answer.headers);
      return true;
    }
    this.#denied.inc();
    request.respond(answer.status, relayedHeaders(answer.headers), answer.body);
    return false;
  }

  #ask(request: PolicyRequest, headers: Record<string, string | string[]>): Promise<AuthAnswer> {
    if (this.#origin !== undefined) return this.#client.check(this.#origin, this.#path, headers, this.#timeout);
    return this.#askService(request, headers);
  }

  /** The auth service's instances in balancer order; only a failed connect moves on to the next. */
  async #askService(request: PolicyRequest, headers: Record<string, string | string[]>): Promise<AuthAnswer> {
    const tried: Endpoint[] = [];
    for (let attempt = 0; attempt < MAX_CONNECT_ATTEMPTS; attempt++) {
      const endpoint = this.#targets!.pick(this.#service!, request, tried);
      if (endpoint === undefined || tried.some((e) => e.key === endpoint.key)) break;
      endpoint.stats.inflight++;
      try {
        const answer = await this.#client.check(`http://${endpoint.address}`, this.#path, headers, this.#timeout);
        this.#outcomes?.onSuccess(endpoint);
        return answer;
      } catch (err) {
        const failure = err instanceof AuthCheckError ? err.failure : 'failed';
        this.#outcomes?.onFailure(endpoint, OUTCOME_REASONS[failure]);
        const connectFailed = failure === 'connect';
        if (!connectFailed) throw err;
        tried.push(endpoint);
      } finally {
        endpoint.stats.inflight--;
      }
    }
    throw new AuthCheckError('connect');
  }
}

/**
 * The auth request's headers: the client's (minus hop-by-hop fields, those its Connection
 * header names, and the body's framing) plus what the auth service needs to judge the request.
 * X-Forwarded-For is the trusted client address alone; Via keeps this proxy's loop marker.
 */
export function authRequestHeaders(request: PolicyRequest): Record<string, string | string[]> {
  const source = request.req.headers;
  const named = source.connection === undefined ? undefined : source.connection.toLowerCase();
  const headers: Record<string, string | string[]> = {};
  for (const name in source) {
    const value = source[name];
    if (value === undefined || NOT_FORWARDED.has(name) || name.charCodeAt(0) === 58 /* ':' HTTP/2 pseudo-header */) continue;
    if (named !== undefined && named !== 'keep-alive' && named !== 'close' && namedBy(named, name)) continue;
    headers[name] = value;
  }
  const authority = source[':authority'];
  headers['x-forwarded-method'] = request.req.method ?? 'GET';
  headers['x-forwarded-proto'] = request.scheme;
  headers['x-forwarded-host'] = typeof authority === 'string' ? authority : (source.host ?? request.host);
  headers['x-forwarded-uri'] = request.req.url ?? '/';
  headers['x-forwarded-for'] = request.clientIp;
  headers['x-request-id'] = request.requestId;
  return headers;
}

/** Whether a Connection value lists `name` as one of its comma-separated tokens. */
function namedBy(connection: string, name: string): boolean {
  for (const token of connection.split(',')) if (token.trim() === name) return true;
  return false;
}

/**
 * Sets each `copyHeaders` field from the allowing answer. A client-sent value of such a field is
 * always removed first — also when the answer lacks it — so a client cannot inject an identity.
 */
function copyOnto(request: PolicyRequest, copy: readonly string[], answer: readonly string[]): void {
  const headers = request.req.headers;
  for (const name of copy) {
    delete headers[name];
    let value: string | undefined;
    for (let i = 0; i < answer.length; i += 2) {
      if (answer[i] !== name) continue;
      value = value === undefined ? answer[i + 1]! : `${value}, ${answer[i + 1]!}`;
    }
    if (value !== undefined) headers[name] = value;
  }
}

/** A denial's header fields as the client gets them (repeated fields, Set-Cookie included, kept). */
function relayedHeaders(answer: readonly string[]): OutgoingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  let connection = '';
  for (let i = 0; i < answer.length; i += 2) if (answer[i] === 'connection') connection += `,${answer[i + 1]!.toLowerCase()}`;
  for (let i = 0; i < answer.length; i += 2) {
    const name = answer[i]!;
    if (NOT_RELAYED.has(name) || (connection !== '' && namedBy(connection, name))) continue;
    const before = headers[name];
    const value = answer[i + 1]!;
    headers[name] = before === undefined ? value : Array.isArray(before) ? [...before, value] : [before, value];
  }
  return headers;
}

export function buildForwardAuth(config: AuthConfig, routeService: string, deps: ForwardAuthDeps): RequestStep {
  return new ForwardAuth(config, routeService, deps);
}
