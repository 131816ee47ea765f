/**
 * The engine the handler sees: each attempt goes to the engine of the instance's
 * protocol (DESIGN §8) — the configured HTTP/1.1 engine for `http1`, the HTTP/2 engine
 * for `h2c` and `h2` — whatever protocol the client spoke. One lookup per attempt.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EngineName } from '../../config/schema.js';
import type { Endpoint } from '../../endpoint.js';
import type { ConnectionTracker } from '../connection-tracker.js';
import type { AttemptOptions, AttemptResult, EngineStats, ForwardEngine } from '../forwarder.js';
import { Http2Engine } from './http2.js';

export class ProtocolEngines implements ForwardEngine {
  readonly name: EngineName;
  readonly #http1: ForwardEngine;
  readonly #http2: Http2Engine;

  /** `connections`: HTTP/2 streams are tracked per instance for draining (connection-tracker.ts). */
  constructor(http1: ForwardEngine & { readonly name: EngineName }, connections?: ConnectionTracker) {
    this.#http1 = http1;
    this.#http2 = new Http2Engine(connections);
    this.name = http1.name;
  }

  forward(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, attempt: AttemptOptions): Promise<AttemptResult> {
    const protocol = endpoint.instance.protocol;
    return protocol === 'http1' || protocol === undefined
      ? this.#http1.forward(req, res, endpoint, attempt)
      : this.#http2.forward(req, res, endpoint, attempt);
  }

  stats(): EngineStats {
    const one = this.#http1.stats();
    const two = this.#http2.stats();
    return { sockets: one.sockets + two.sockets, pending: one.pending + two.pending };
  }

  /** An address left the registry: whichever engine has connections to it closes them once idle. */
  forget(address: string): void {
    this.#http1.forget(address);
    this.#http2.forget(address);
  }

  async close(): Promise<void> {
    await Promise.all([this.#http1.close(), this.#http2.close()]);
  }
}
