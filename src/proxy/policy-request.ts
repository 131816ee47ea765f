/**
 * The proxy's side of a policy step's request (src/policy/step.ts): built only for
 * routes that have a policy chain, once per request, and kept by the exchange so
 * response steps see the same object (with the attempt's instance).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { AccessLogEntry } from '../access-log.js';
import type { PolicyErrorCode, PolicyRequest } from '../policy/step.js';
import type { RouteMatch } from '../routing/route.js';
import type { ProxyErrorCode } from './responses.js';

/** Every policy answer is a proxy error the handler knows how to send. */
const _policyCodesAreProxyCodes: PolicyErrorCode extends ProxyErrorCode ? true : never = true;
void _policyCodesAreProxyCodes;

/** How the handler answers for a step (so the answer is logged and counted like any other). */
export interface PolicyAnswers {
  reject(req: IncomingMessage, res: ServerResponse, code: ProxyErrorCode, log: AccessLogEntry): number;
  unreadBody(req: IncomingMessage): boolean;
  readonly closing: boolean;
}

export class ProxyPolicyRequest implements PolicyRequest {
  /** The instance of the current attempt (set by the exchange before each send). */
  instance = '';

  constructor(
    readonly answers: PolicyAnswers,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly match: RouteMatch,
    readonly clientIp: string,
    readonly requestId: string,
    readonly host: string,
    readonly scheme: 'http' | 'https',
    readonly log: AccessLogEntry,
  ) {}

  get service(): string {
    return this.match.service;
  }

  get routeId(): string {
    return this.match.routeId;
  }

  get upstreamPath(): string {
    return this.match.upstreamPath;
  }

  set upstreamPath(path: string) {
    this.match.upstreamPath = path;
  }

  reject(code: PolicyErrorCode, headers?: OutgoingHttpHeaders): void {
    if (headers !== undefined && !this.res.headersSent) for (const name in headers) this.res.setHeader(name, headers[name]!);
    this.log.status = this.answers.reject(this.req, this.res, code, this.log);
  }

  respond(status: number, headers: OutgoingHttpHeaders, body?: Buffer | string): void {
    const res = this.res;
    this.log.status = status;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const payload = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
    res.statusCode = status;
    for (const name in headers) res.setHeader(name, headers[name]!);
    res.setHeader('x-request-id', this.requestId);
    if (payload !== undefined || (status >= 200 && status !== 204 && status !== 304)) res.setHeader('content-length', payload?.length ?? 0);
    // The rest of an unread request body would be parsed as the next request.
    if ((this.answers.unreadBody(this.req) || this.answers.closing) && this.req.httpVersionMajor !== 2) res.setHeader('connection', 'close');
    res.end(payload);
  }
}
