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
import type { AuthRequester } from './auth-client.js';
import { buildForwardAuth, type AuthTargets } from './forward-auth.js';
import { buildSplit, type SplitPicker } from './split.js';
import type { PolicyRequest, RequestStep, ResponseStep, StepResult } from './step.js';

/** What steps may need beyond their own config; shared by every route of one table. */
export interface PolicyDeps {
  readonly metrics: Metrics;
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
  readonly routeId: string;
  readonly service: string;
}

export class RoutePolicy {
  constructor(
    /** Steps run before the pick, in chain order. */
    readonly request: readonly RequestStep[],
    /** Steps run on the response head, in chain order. */
    readonly response: readonly ResponseStep[],
    /** `split`: the route picks through the tag groups (routing/table.ts); undefined = the balancer alone. */
    readonly split: SplitPicker | undefined = undefined,
  ) {}

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
  let split: SplitPicker | undefined;

  // clientCidrs (client-cidrs.ts)

  // redirect (redirect.ts)

  // cors preflight (cors.ts)

  // rateLimit (rate-limit.ts)

  // auth (forward-auth.ts)
  if (config.auth !== undefined) request.push(buildForwardAuth(config.auth, route.service, deps));

  // requestHeaders (header-edits.ts)

  // rewrite (rewrite.ts)

  // split (split.ts)
  if (config.split !== undefined) split = buildSplit(config.split, deps.random);

  // responseHeaders (header-edits.ts)

  // cors response headers (cors.ts)

  // compress (compress.ts)

  return new RoutePolicy(request, response, split);
}
