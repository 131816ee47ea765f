/**
 * A bound on finished spans waiting for export, with every span that does not
 * make it counted: the official BatchSpanProcessor batches and exports, and
 * this wrapper keeps the number of spans handed to it and not yet exported (or
 * failed) under `max`. A collector that is down or slow therefore costs a fixed
 * amount of memory and a counter, never a blocked request or a growing queue.
 */
import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';

export interface SpanQueueCounts {
  exported(spans: number): void;
  dropped(spans: number): void;
  failed(error: unknown): void;
}

/** ExportResultCode.SUCCESS in @opentelemetry/core. */
const SUCCESS = 0;

export class BoundedSpanQueue implements SpanProcessor {
  /** Spans handed to the batch processor and not yet through an export. */
  #pending = 0;
  readonly #inner: SpanProcessor;

  constructor(
    exporter: SpanExporter,
    processorFor: (exporter: SpanExporter) => SpanProcessor,
    readonly max: number,
    readonly counts: SpanQueueCounts,
  ) {
    const counting: SpanExporter = {
      export: (spans, done) =>
        exporter.export(spans, (result) => {
          this.#pending -= spans.length;
          if (result.code === SUCCESS) {
            counts.exported(spans.length);
          } else {
            counts.dropped(spans.length);
            counts.failed(result.error);
          }
          done(result);
        }),
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    };
    this.#inner = processorFor(counting);
  }

  get pending(): number {
    return this.#pending;
  }

  onStart(span: Span, parentContext: Context): void {
    this.#inner.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    if (this.#pending >= this.max) {
      this.counts.dropped(1);
      return;
    }
    this.#pending++;
    this.#inner.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }
}
