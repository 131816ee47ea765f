/**
 * OpenTelemetry tracing (DESIGN §8 `tracing`), built on the official SDK and
 * OTLP/HTTP exporter, loaded only when `tracing.otlpEndpoint` is set: a proxy
 * without tracing neither loads nor pays for it.
 *
 * One server span per proxied request (or WebSocket upgrade, or gRPC call) and
 * one client span per upstream attempt, whose context travels upstream as W3C
 * `traceparent` / `tracestate`.
 *
 * Sampling: a request that carries a trace context follows its parent's
 * decision (parent-based); one that carries none starts a new trace with
 * probability `sampleRatio`. An unsampled request creates nothing and forwards
 * whatever context it came with untouched, so at 1 % sampling 99 % of requests
 * pay one random number.
 */
import type { Context, Span, TextMapGetter, TextMapSetter, Tracer } from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { BoundedSpanQueue } from './span-queue.js';

export interface TracingConfig {
  /** OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces; "" = tracing off. */
  readonly otlpEndpoint: string;
  readonly sampleRatio: number;
  readonly serviceName: string;
  /** Finished spans waiting for export at most; more are dropped and counted. */
  readonly maxQueueSize: number;
}

/** What a finished request tells its server span. */
export interface ServerSpanEnd {
  readonly routeId: string | undefined;
  readonly service: string | undefined;
  readonly status: number;
  readonly protocol: string;
  readonly error: string | undefined;
  readonly grpcStatus: number | undefined;
}

/** What a finished attempt tells its client span. */
export interface AttemptSpanEnd {
  readonly status: number;
  readonly error: string | undefined;
}

/** One sampled request's server span. */
export interface ServerTrace {
  readonly traceId: string;
  /** Starts a client span for one upstream attempt and writes its context into `headers`. */
  startAttempt(name: string, instance: string, retry: number, headers: Record<string, unknown>): AttemptTrace;
  end(result: ServerSpanEnd): void;
}

export interface AttemptTrace {
  end(result: AttemptSpanEnd): void;
}

export interface Tracing {
  /** A server span for this request, or undefined when it is not sampled (then nothing else is done). */
  startServer(method: string, path: string, host: string, headers: IncomingHttpHeaders): ServerTrace | undefined;
  /** Exports what is queued and stops (graceful stop). */
  shutdown(): Promise<void>;
}

const headerGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

const headerSetter: TextMapSetter<Record<string, unknown>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/** Loads the SDK and builds the tracer; undefined when tracing is off. */
export async function createTracing(config: TracingConfig, metrics: Metrics, logger: Logger): Promise<Tracing | undefined> {
  if (config.otlpEndpoint === '') return undefined;
  const [api, core, resources, sdk, otlp] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/exporter-trace-otlp-http'),
  ]);
  const exporter = new otlp.OTLPTraceExporter({ url: config.otlpEndpoint, timeoutMillis: 5_000 });
  const queue = new BoundedSpanQueue(
    exporter,
    (exporterOf) => new sdk.BatchSpanProcessor({ exporter: exporterOf, maxQueueSize: config.maxQueueSize, scheduledDelayMillis: 1_000, exportTimeoutMillis: 5_000 }),
    config.maxQueueSize,
    {
      exported: (n) => metrics.tracingSpans.inc({ result: 'exported' }, n),
      dropped: (n) => metrics.tracingSpans.inc({ result: 'dropped' }, n),
      failed: (err) => logger.warn({ err: String(err) }, 'tracing export failed; spans dropped'),
    },
  );
  const provider = new sdk.TracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': config.serviceName }),
    // The root decision is made before a span exists (startServer); what reaches the SDK is sampled,
    // or carries a parent whose decision it follows.
    sampler: new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() }),
    spanProcessors: [queue],
  });
  return new OtelTracing(provider.getTracer('waypost'), provider, api, new core.W3CTraceContextPropagator(), config.sampleRatio);
}

type Api = typeof import('@opentelemetry/api');
type Propagator = InstanceType<typeof import('@opentelemetry/core').W3CTraceContextPropagator>;

class OtelTracing implements Tracing {
  constructor(
    readonly tracer: Tracer,
    readonly provider: { shutdown(): Promise<void> },
    readonly api: Api,
    readonly propagator: Propagator,
    readonly ratio: number,
  ) {}

  startServer(method: string, path: string, host: string, headers: IncomingHttpHeaders): ServerTrace | undefined {
    const { api } = this;
    let parent: Context = api.ROOT_CONTEXT;
    if (headers.traceparent !== undefined) {
      parent = this.propagator.extract(api.ROOT_CONTEXT, headers, headerGetter);
      const remote = api.trace.getSpanContext(parent);
      // Parent-based: an unsampled parent's request passes through untouched.
      if (remote !== undefined && (remote.traceFlags & api.TraceFlags.SAMPLED) === 0) return undefined;
      // An invalid traceparent counts as none: a new trace, sampled at the ratio.
      if (remote === undefined && Math.random() >= this.ratio) return undefined;
    } else if (Math.random() >= this.ratio) {
      return undefined;
    }
    const attributes = { 'http.request.method': method, 'url.path': path, 'server.address': host };
    const span = this.tracer.startSpan(method, { kind: api.SpanKind.SERVER, attributes }, parent);
    return new OtelServerTrace(this, span, method);
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}

class OtelServerTrace implements ServerTrace {
  readonly traceId: string;
  readonly #context: Context;

  constructor(
    readonly tracing: OtelTracing,
    readonly span: Span,
    readonly method: string,
  ) {
    this.traceId = span.spanContext().traceId;
    this.#context = tracing.api.trace.setSpan(tracing.api.ROOT_CONTEXT, span);
  }

  startAttempt(name: string, instance: string, retry: number, headers: Record<string, unknown>): AttemptTrace {
    const { api, tracer, propagator } = this.tracing;
    const span = tracer.startSpan(
      name,
      { kind: api.SpanKind.CLIENT, attributes: { 'server.address': instance, 'waypost.instance': instance, 'waypost.retry': retry } },
      this.#context,
    );
    propagator.inject(api.trace.setSpan(this.#context, span), headers, headerSetter);
    return new OtelAttemptTrace(span, api);
  }

  end(result: ServerSpanEnd): void {
    const span = this.span;
    // Named like OpenTelemetry's HTTP server spans: method and route (a bounded set of names).
    if (result.routeId !== undefined) span.updateName(`${this.method} ${result.routeId}`);
    if (result.routeId !== undefined) span.setAttribute('waypost.route', result.routeId);
    if (result.service !== undefined) span.setAttribute('waypost.service', result.service);
    span.setAttribute('http.response.status_code', result.status);
    span.setAttribute('network.protocol.name', result.protocol);
    if (result.grpcStatus !== undefined) span.setAttribute('rpc.grpc.status_code', result.grpcStatus);
    if (result.error !== undefined) span.setAttribute('error.type', result.error);
    if (result.status >= 500 || result.error !== undefined) span.setStatus({ code: this.tracing.api.SpanStatusCode.ERROR, message: result.error });
    span.end();
  }
}

class OtelAttemptTrace implements AttemptTrace {
  constructor(
    readonly span: Span,
    readonly api: Api,
  ) {}

  end(result: AttemptSpanEnd): void {
    if (result.status !== 0) this.span.setAttribute('http.response.status_code', result.status);
    if (result.error !== undefined) {
      this.span.setAttribute('error.type', result.error);
      this.span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: result.error });
    } else if (result.status >= 500) {
      this.span.setStatus({ code: this.api.SpanStatusCode.ERROR });
    }
    this.span.end();
  }
}
