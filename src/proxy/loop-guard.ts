/**
 * Loop detection on the data path, independent of how an instance's address is
 * spelled (the registration checks in src/admin/targets.ts are the first layer;
 * this one also catches what they cannot see: a name that resolves to the proxy
 * later, a record written straight into Redis). Every request and WebSocket
 * upgrade the listeners accept gets `Via: <version> <proxy-id>` appended before
 * it is routed; one that arrives already naming this proxy's id came back to it
 * and is answered 508 `loop_detected`, as is one that lists more than
 * MAX_VIA_HOPS proxies (a loop through several proxies, or a hostile header).
 * So a loop costs one extra request and one pooled connection, not a fan-out.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import { viaEntry, viaHops, viaNames } from '../net/via.js';

/** More Via entries than this is treated as a loop (nginx and Envoy chains are a handful deep). */
export const MAX_VIA_HOPS = 16;

export class LoopGuard {
  readonly #proxyId: string;
  /** The entry nearly every request gets, built once. */
  readonly #http11Entry: string;
  readonly #log: Logger;

  constructor(proxyId: string, logger: Logger) {
    this.#proxyId = proxyId;
    this.#http11Entry = viaEntry('1.1', proxyId);
    this.#log = logger;
  }

  get proxyId(): string {
    return this.#proxyId;
  }

  /** true for a looping request (the caller answers 508 `loop_detected`); otherwise marks it and returns false. */
  loops(req: IncomingMessage): boolean {
    return this.#loops(req) || this.#mark(req);
  }

  #loops(req: IncomingMessage): boolean {
    const via = req.headers.via;
    if (via === undefined) return false;
    const hops = viaHops(via);
    const ownId = viaNames(via, this.#proxyId);
    if (!ownId && hops <= MAX_VIA_HOPS) return false;
    this.#log.warn(
      { host: req.headers.host?.slice(0, 200), path: (req.url ?? '').split('?', 1)[0]!.slice(0, 200), hops, ownId },
      'routing loop refused',
    );
    return true;
  }

  /** Appends this hop; setForwardedHeaders keeps it even when the client's Connection header names Via. */
  #mark(req: IncomingMessage): false {
    // RFC 9110 §7.6.3 names the received protocol's version: `2` for HTTP/2 (Node reports 2.0).
    const version = req.httpVersionMajor === 2 ? '2' : req.httpVersion;
    const entry = version === '1.1' ? this.#http11Entry : viaEntry(version, this.#proxyId);
    const via = req.headers.via;
    req.headers.via = via === undefined ? entry : `${via}, ${entry}`;
    return false;
  }
}
