/**
 * A route's policy chain, compiled once when the route table is built.
 *
 * Order (DESIGN §8): clientCidrs → redirect → cors (preflight) → rateLimit →
 * auth → requestHeaders / rewrite → split (tag groups) → balancer →
 * concurrency → retry → responseHeaders → compress.
 *
 * A route without policy keys gets no chain at all (undefined): the request
 * path pays one property read for the feature. Each step is one file in this
 * folder with its own builder; a key that is absent builds nothing.
 */
import type { PolicyConfig } from '../config/policy-schema.js';
import { POLICY_KEYS } from '../config/policy-schema.js';
import type { RandomSource } from '../balancer/tried.js';
import type { OutcomeListener } from '../endpoint.js';
import type { Metrics } from '../metrics.js';
import { buildClientCidrs } from './client-cidrs.js';
import { buildRateLimit } from './rate-limit.js';
import type { RateLimits } from './rate-limits.js';
import { buildConcurrency, type ConcurrencyLimit } from './concurrency.js';
import type { InstanceSlots } from './instance-slots.js';
import { buildRetryPolicy, type RetryPolicy } from './retry-policy.js';
import type { AuthRequester } from './auth-client.js';
import { buildForwardAuth, type AuthTargets } from './forward-auth.js';
import { buildSplit, type SplitPicker } from './split.js';
import type { PolicyRequest, RequestStep, ResponseStep, StepResult } from './step.js';
import { buildCompress } from './compress.js';
import { buildCors } from './cors.js';
import { buildRequestHeaderEdits, buildResponseHeaderEdits } from './header-edits.js';
import { buildRedirect } from './redirect.js';
import { buildRewrite } from './rewrite.js';

/** What steps may need beyond their own config; shared by every route of one table. */
export interface PolicyDeps {
  readonly metrics: Metrics;
  /** App-owned rate-limit buckets (outlive route tables) and the shared-limit reconciler. */
  readonly rateLimits?: RateLimits;
  /** In-flight requests per instance for `concurrency`, shared by every table the app builds (absent: each route counts alone). */
  readonly instanceSlots?: InstanceSlots;
  /** forward-auth: the app's HTTP client (owns the connections to auth services). */
  readonly authClient?: AuthRequester | undefined;
  /** forward-auth with `service:`: picks an instance of a registered auth service. */
  readonly authTargets?: AuthTargets | undefined;
  /** forward-auth: passive health hears auth checks' outcomes. */
  readonly outcomes?: OutcomeListener | undefined;
  /** split: the uniform source a group is drawn with (tests inject a seeded one). @default Math.random */
  readonly random?: RandomSource | undefined;
}

/** The route a chain is built for. */
export interface PolicyRoute {
  /** The route's label in logs (`route[2]`, an API id, …). */
  readonly routeId: string;
  readonly service: string;
  /**
   * What identifies the route across reloads and proxies (routing/route-stable-id.ts): state
   * that outlives a route table (rate-limit buckets, shared limits in Redis) is kept under it.
   * @default routeId (API, declared and convention ids are stable already)
   */
  readonly stableId?: string;
}

export class RoutePolicy {
  constructor(
    /** Steps run before the pick, in chain order. */
    readonly request: readonly RequestStep[],
    /** Steps run on the response head, in chain order. */
    readonly response: readonly ResponseStep[],
    /** `concurrency`: per-instance cap and queue, applied where an HTTP request takes an instance. */
    readonly concurrency: ConcurrencyLimit | undefined = undefined,
    /** `retry`: the attempt loop's rule; undefined = the `retries` short form. */
    readonly retry: RetryPolicy | undefined = undefined,
    /**
     * Steps run before each attempt, once its instance is known (request headers using
     * {instance}); HttpExchange.send runs them. Empty for nearly every route.
     */
    readonly attempt: readonly RequestStep[] = [],
    /** `split`: the route picks through the tag groups (routing/table.ts); undefined = the balancer alone. */
    readonly split: SplitPicker | undefined = undefined,
  ) {
    this.hasSteps = request.length + response.length > 0;
  }

  /**
   * The route has request or response steps, so a request needs a PolicyRequest; false when its
   * policy is only attempt-level (retry, concurrency, split). Decided here, not per request.
   */
  readonly hasSteps: boolean;

  /**
   * Runs the request steps; true when the request goes on to the pick. Synchronous while every
   * step answers synchronously (the common case: no promise per request).
   */
  admit(request: PolicyRequest): StepResult {
    const steps = this.request;
    for (let i = 0; i < steps.length; i++) {
      const result = steps[i]!.run(request);
      if (result === true) continue;
      if (result === false) return false;
      return this.#admitFrom(result, i + 1, request);
    }
    return true;
  }

  async #admitFrom(pending: Promise<boolean>, next: number, request: PolicyRequest): Promise<boolean> {
    if (!(await pending)) return false;
    for (let i = next; i < this.request.length; i++) if (!(await this.request[i]!.run(request))) return false;
    return true;
  }
}

/** The effective policy of a route: each key from the route, else from `defaults`. */
export function effectivePolicy(route: PolicyConfig, defaults: PolicyConfig): PolicyConfig {
  const merged: Record<string, unknown> = {};
  for (const key of POLICY_KEYS) merged[key] = route[key] ?? defaults[key];
  return merged as PolicyConfig;
}

/** undefined when the route has no policy key set (it then pays nothing per request). */
export function compilePolicy(config: PolicyConfig, route: PolicyRoute, deps: PolicyDeps): RoutePolicy | undefined {
  if (POLICY_KEYS.every((key) => config[key] === undefined)) return undefined;
  const request: RequestStep[] = [];
  const response: ResponseStep[] = [];
  const attempt: RequestStep[] = [];
  const cors = config.cors === undefined ? undefined : buildCors(config.cors);
  let split: SplitPicker | undefined;

  // clientCidrs (client-cidrs.ts)
  if (config.clientCidrs !== undefined) {
    const step = buildClientCidrs(config.clientCidrs);
    if (step !== undefined) request.push(step);
  }

  // redirect (redirect.ts)
  if (config.redirect !== undefined) request.push(buildRedirect(config.redirect));

  // cors preflight (cors.ts)
  if (cors !== undefined) request.push(cors.preflight);

  // rateLimit (rate-limit.ts)
  if (config.rateLimit !== undefined) {
    const limit = buildRateLimit(config.rateLimit, route, deps);
    request.push(limit.request);
    response.push(limit.response);
  }

  // auth (forward-auth.ts)
  if (config.auth !== undefined) request.push(buildForwardAuth(config.auth, route.service, deps));

  // requestHeaders (header-edits.ts)
  if (config.requestHeaders !== undefined) {
    const edits = buildRequestHeaderEdits(config.requestHeaders);
    request.push(edits.beforePick);
    if (edits.perAttempt !== undefined) attempt.push(edits.perAttempt);
  }

  // rewrite (rewrite.ts)
  if (config.rewrite !== undefined) request.push(buildRewrite(config.rewrite));

  // concurrency (concurrency.ts)
  const concurrency = config.concurrency === undefined ? undefined : buildConcurrency(config.concurrency, route, deps);

  // retry (retry-policy.ts)
  const retry = config.retry === undefined ? undefined : buildRetryPolicy(config.retry, route, deps);

  // split (split.ts)
  if (config.split !== undefined) split = buildSplit(config.split, deps.random);

  // responseHeaders (header-edits.ts)
  if (config.responseHeaders !== undefined) response.push(buildResponseHeaderEdits(config.responseHeaders));

  // cors response headers (cors.ts)
  if (cors !== undefined) response.push(cors.response);

  // compress (compress.ts)
  if (config.compress !== undefined) response.push(buildCompress(config.compress));

  return new RoutePolicy(request, response, concurrency, retry, attempt, split);
}
