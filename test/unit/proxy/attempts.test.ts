/**
 * The attempt loop with a real route (round-robin over a real EndpointSet), real
 * metrics and a scripted protocol: each instance answers the way the case says.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { PickContext } from '../../../src/balancer/policy.js';
import { policyDefaultsSchema } from '../../../src/config/policy-schema.js';
import { RoutePolicy } from '../../../src/policy/chain.js';
import { RetryBudget } from '../../../src/policy/retry-budget.js';
import { RetryPolicy } from '../../../src/policy/retry-policy.js';
import { createBalancer } from '../../../src/balancer/index.js';
import type { Endpoint, OutcomeListener } from '../../../src/endpoint.js';
import { Metrics, type UpstreamErrorReason } from '../../../src/metrics.js';
import { AttemptLoop, Exchange, type AttemptReport } from '../../../src/proxy/attempts.js';
import { ServiceMetrics } from '../../../src/proxy/service-metrics.js';
import { createConnectionPickContext } from '../../../src/routing/pick-context.js';
import { ServiceRoute } from '../../../src/routing/service-route.js';
import { endpointSet, record, serviceState } from '../../helpers/endpoints.js';
import { waitFor } from '../../helpers/wait.js';

type Answer = UpstreamErrorReason | number | 'abort' | 'sent-then-reset';

function report(answer: Answer): AttemptReport {
  if (answer === 'abort') return { status: 0, sent: false, error: undefined, aborted: true };
  if (answer === 'sent-then-reset') return { status: 200, sent: true, error: 'reset', aborted: false };
  if (typeof answer === 'number') return { status: answer, sent: true, error: undefined, aborted: false };
  return { status: 0, sent: false, error: answer, aborted: false };
}

/** A protocol whose instance `id` answers `answers[id]`; records each attempt and the inflight count it saw. */
class ScriptedExchange extends Exchange<AttemptReport> {
  readonly sentTo: string[] = [];
  readonly inflightSeen: number[] = [];
  resendable = true;

  constructor(
    route: ServiceRoute,
    metrics: ServiceMetrics,
    countsInflight: boolean,
    readonly answers: Record<string, Answer>,
  ) {
    super(route, createConnectionPickContext('192.0.2.1'), metrics, countsInflight);
  }

  send(endpoint: Endpoint): Promise<AttemptReport> {
    this.sentTo.push(endpoint.instance.id);
    this.inflightSeen.push(endpoint.stats.inflight);
    return Promise.resolve(report(this.answers[endpoint.instance.id] ?? 200));
  }

  canResend(): boolean {
    return this.resendable;
  }
}

class RecordingOutcomes implements OutcomeListener {
  readonly seen: string[] = [];
  onSuccess(endpoint: Endpoint): void {
    this.seen.push(`${endpoint.instance.id} ok`);
  }
  onFailure(endpoint: Endpoint, reason: string): void {
    this.seen.push(`${endpoint.instance.id} ${reason}`);
  }
}

function setup(ids: string[], retries: number, answers: Record<string, Answer>, countsInflight = true) {
  const set = endpointSet(Object.fromEntries(ids.map((id) => [id, 100])));
  const state = serviceState('svc', ids.map((id) => record('svc', id)));
  // random() = 0: the rotation starts at the first instance, so each case knows the order of attempts.
  const route = new ServiceRoute('svc', createBalancer('round-robin', { random: () => 0 }), retries, { connect: 1000, header: 1000, idle: 1000 }, { get: () => state }, { forService: () => set });
  const metrics = new Metrics({ processMetrics: false });
  const outcomes = new RecordingOutcomes();
  const exchange = new ScriptedExchange(route, new ServiceMetrics(metrics, 'svc'), countsInflight, answers);
  const loop = new AttemptLoop(outcomes);
  const first = route.pick(exchange.ctx)!;
  return { set, metrics, outcomes, exchange, run: () => loop.run(exchange, first) };
}

async function counter(metrics: Metrics, name: string): Promise<Record<string, number>> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as { labels: Record<string, string>; value: number }[];
  return Object.fromEntries(values.map((v) => [Object.values(v.labels).join(','), v.value]));
}

describe('the attempt loop', () => {
  it('retries a refused connect on the next instance and reports every attempt', async () => {
    const { exchange, outcomes, metrics, run } = setup(['a', 'b'], 2, { a: 'connect_refused' });
    const result = await run();
    expect(result.status).toBe(200);
    expect(exchange.sentTo).toEqual(['a', 'b']);
    expect(exchange.endpoint?.instance.id).toBe('b');
    expect(exchange.retries).toBe(1);
    expect(outcomes.seen).toEqual(['a connect_refused', 'b ok']);
    expect(await counter(metrics, 'waypost_upstream_errors_total')).toEqual({ 'svc,connect_refused': 1 });
    expect(await counter(metrics, 'waypost_retries_total')).toEqual({ svc: 1 });
  });

  it('stops after route.retries further attempts', async () => {
    const { exchange, run } = setup(['a', 'b', 'c'], 1, { a: 'reset', b: 'reset', c: 'reset' });
    const result = await run();
    expect(result.error).toBe('reset');
    expect(exchange.sentTo).toEqual(['a', 'b']);
  });

  it('stops when the next pick would be an instance already tried', async () => {
    const { exchange, run } = setup(['a', 'b'], 5, { a: 'connect_timeout', b: 'connect_timeout' });
    await run();
    expect(exchange.sentTo).toEqual(['a', 'b']);
    expect(exchange.retries).toBe(1);
  });

  it('answers a failure the instance may have acted on (header timeout) without retrying', async () => {
    const { exchange, outcomes, run } = setup(['a', 'b'], 2, { a: 'header_timeout' });
    expect((await run()).error).toBe('header_timeout');
    expect(exchange.sentTo).toEqual(['a']);
    expect(outcomes.seen).toEqual(['a header_timeout']);
  });

  it('never retries once bytes reached the client', async () => {
    const { exchange, run } = setup(['a', 'b'], 2, { a: 'sent-then-reset' });
    await run();
    expect(exchange.sentTo).toEqual(['a']);
  });

  it('never retries when the request cannot be sent again', async () => {
    const { exchange, run } = setup(['a', 'b'], 2, { a: 'connect_refused' });
    exchange.resendable = false;
    await run();
    expect(exchange.sentTo).toEqual(['a']);
  });

  it('counts a 5xx answer against the instance as status_5xx, and does not retry it', async () => {
    const { exchange, outcomes, run } = setup(['a', 'b'], 2, { a: 503 });
    expect((await run()).status).toBe(503);
    expect(exchange.sentTo).toEqual(['a']);
    expect(outcomes.seen).toEqual(['a status_5xx']);
  });

  it('reports nothing when the client went away', async () => {
    const { exchange, outcomes, metrics, run } = setup(['a', 'b'], 2, { a: 'abort' });
    expect((await run()).aborted).toBe(true);
    expect(exchange.sentTo).toEqual(['a']);
    expect(outcomes.seen).toEqual([]);
    expect(await counter(metrics, 'waypost_upstream_errors_total')).toEqual({});
  });

  it('counts each attempt in stats.inflight while it runs, only when the protocol asks', async () => {
    const counted = setup(['a', 'b'], 2, { a: 'connect_refused' });
    await counted.run();
    expect(counted.exchange.inflightSeen).toEqual([1, 1]);
    expect(counted.set.endpoints.map((e) => e.stats.inflight)).toEqual([0, 0]);

    const uncounted = setup(['a', 'b'], 2, { a: 'connect_refused' }, false);
    await uncounted.run();
    expect(uncounted.exchange.inflightSeen).toEqual([0, 0]);
  });
});

describe('the attempt loop with a retry policy', () => {
  /**
   * The setup() route with a `retry` policy whose jitter always draws `draw`, and a client that can
   * leave. setup() already took the rotation's first pick, so these exchanges start at b (then a, c).
   */
  function withPolicy(retry: Record<string, unknown>, answers: Record<string, Answer>, draw = 1) {
    const base = setup(['a', 'b', 'c'], 0, answers);
    const config = policyDefaultsSchema.parse({ retry }).retry!;
    const retryPolicy = new RetryPolicy(config, new RetryBudget(config.budget, undefined), () => draw);
    const inner = base.exchange.route as ServiceRoute;
    const route = { retries: 0, policy: new RoutePolicy([], [], undefined, retryPolicy), pick: (ctx: PickContext) => inner.pick(ctx) };
    const client = new EventEmitter();
    let gone = false;
    class Leaving extends ScriptedExchange {
      override clientCloses(): EventEmitter {
        return client;
      }
      override clientGone(): boolean {
        return gone;
      }
    }
    const exchange = new Leaving(route as unknown as ServiceRoute, base.exchange.metrics, true, answers);
    const loop = new AttemptLoop(base.outcomes);
    const first = route.pick(exchange.ctx)!;
    const leave = (): void => {
      gone = true;
      client.emit('close');
    };
    return { exchange, budget: retryPolicy.budget, leave, run: () => loop.run(exchange, first) };
  }

  it('retries what `on` lists, as many times as `attempts` says', async () => {
    const { exchange, budget, run } = withPolicy({ on: ['reset'], attempts: 2, backoff: '0s' }, { a: 'reset', b: 'reset', c: 'reset' });
    expect((await run()).error).toBe('reset');
    expect(exchange.sentTo).toEqual(['b', 'a', 'c']);
    expect([budget.activeRequests, budget.activeRetries]).toEqual([0, 0]);
  });

  it('retries a header timeout with `timeout` for an idempotent request', async () => {
    const { exchange, run } = withPolicy({ on: ['timeout'], attempts: 1, backoff: '0s' }, { b: 'header_timeout' });
    expect((await run()).status).toBe(200);
    expect(exchange.sentTo).toEqual(['b', 'a']);
  });

  it('waits the backoff before a retry and sends nothing more when the client leaves during it', async () => {
    const { exchange, budget, leave, run } = withPolicy({ on: ['reset'], attempts: 2, backoff: '10s' }, { b: 'reset' });
    const started = Date.now();
    const result = run();
    await waitFor('first attempt sent', () => exchange.sentTo.length === 1);
    expect(budget.activeRetries).toBe(1);
    leave();
    expect((await result).aborted).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(exchange.sentTo).toEqual(['b']);
    expect([budget.activeRequests, budget.activeRetries]).toEqual([0, 0]);
  });
});
