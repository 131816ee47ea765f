/**
 * Reads the change feed of the Redis store for one subscriber.
 *
 * Why a Stream and not pub/sub: pub/sub drops every message published while a
 * reader is disconnected and gives it no way to notice. Stream entries carry the
 * revision as their id (`${revision}-0`), so a reader asks for "everything after
 * my revision" and can prove it got a contiguous run; when it cannot (trimmed
 * feed, gap, reconnect) it tells the subscriber to resync instead of guessing.
 *
 * XREAD BLOCK holds its connection, so every reader has its own client.
 */
import type { Logger } from '../log.js';
import type { RedisClient } from './redis-connection.js';
import type { ChangeEvent, ChangeType, FeedHandlers, FeedSubscription, StoredRoute } from './store.js';
import type { InstanceRecord } from '../types.js';
import type { RouteBody } from './routes.js';

const BATCH = 1000;
/** Short blocks keep the loop responsive to resume() and close(). */
const BLOCK_MS = 1000;

export type StreamEntry = [id: string, fields: string[]];

export type RecordDecoder = (service: string, id: string, packed: string) => InstanceRecord;

export class RedisFeedReader implements FeedSubscription {
  readonly #client: RedisClient;
  readonly #feedKey: string;
  readonly #handlers: FeedHandlers;
  readonly #decode: RecordDecoder;
  readonly #log: Logger;
  readonly #onClose: () => void;
  #position: number;
  #paused = false;
  #closed = false;
  #connected = false;
  #everConnected = false;
  /** Bumped on every reset and resume, so a read started before one is discarded. */
  #generation = 0;
  #wake: (() => void) | undefined;

  constructor(options: {
    client: RedisClient;
    feedKey: string;
    fromRevision: number;
    handlers: FeedHandlers;
    decode: RecordDecoder;
    logger: Logger;
    onClose: () => void;
  }) {
    this.#client = options.client;
    this.#feedKey = options.feedKey;
    this.#position = options.fromRevision;
    this.#handlers = options.handlers;
    this.#decode = options.decode;
    this.#log = options.logger;
    this.#onClose = options.onClose;
    this.#client.on('ready', () => this.#onReady());
    this.#client.on('close', () => this.#onDisconnect());
    this.#client.connect().catch((err: unknown) => this.#log.debug({ err }, 'feed connection failed; retrying'));
    void this.#loop();
  }

  resume(fromRevision: number): void {
    this.#position = fromRevision;
    this.#paused = false;
    this.#generation += 1;
    this.#wakeUp();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wakeUp();
    this.#client.disconnect();
    this.#onClose();
  }

  #onReady(): void {
    if (this.#closed) return;
    this.#connected = true;
    this.#handlers.onConnectionChange?.(true);
    if (this.#everConnected) this.#reset('reconnect');
    this.#everConnected = true;
    this.#wakeUp();
  }

  #onDisconnect(): void {
    if (!this.#connected || this.#closed) return;
    this.#connected = false;
    this.#handlers.onConnectionChange?.(false);
  }

  #reset(reason: string): void {
    this.#paused = true;
    this.#generation += 1;
    this.#log.info({ reason, position: this.#position }, 'feed reset');
    this.#handlers.onReset(reason);
  }

  async #loop(): Promise<void> {
    while (!this.#closed) {
      if (this.#paused || !this.#connected) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      const generation = this.#generation;
      const from = this.#position;
      let reply: [key: string, entries: StreamEntry[]][] | null;
      try {
        reply = (await this.#client.xread('COUNT', BATCH, 'BLOCK', BLOCK_MS, 'STREAMS', this.#feedKey, `${from}-0`)) as typeof reply;
      } catch (err) {
        if (this.#closed) return;
        this.#log.debug({ err }, 'feed read failed');
        await new Promise<void>((resolve) => setTimeout(resolve, 100).unref());
        continue;
      }
      if (this.#closed || generation !== this.#generation || !reply?.[0]) continue;
      const events = reply[0][1].map((entry) => this.#toEvent(entry));
      if (events[0]!.revision !== from + 1) {
        // Entries after `from` were trimmed away: the subscriber cannot catch up from the feed.
        this.#reset('trimmed');
        continue;
      }
      if (events.some((event, i) => event.revision !== from + 1 + i)) {
        this.#reset('gap');
        continue;
      }
      this.#position = events[events.length - 1]!.revision;
      try {
        this.#handlers.onEvents(events);
      } catch (err) {
        this.#log.warn({ err }, 'feed subscriber threw');
      }
    }
  }

  #toEvent(entry: StreamEntry): ChangeEvent {
    return feedEntryToEvent(entry, this.#decode);
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** One change-feed stream entry (id `REV-0`, fields type/service/id/at/record) as a ChangeEvent. */
export function feedEntryToEvent([streamId, fields]: StreamEntry, decode: RecordDecoder): ChangeEvent {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  const service = map.get('service') ?? '';
  const id = map.get('id') ?? '';
  const packed = map.get('record');
  const base = {
    revision: Number.parseInt(streamId, 10),
    type: map.get('type') as ChangeType,
    service,
    id,
    at: Number(map.get('at')),
  };
  const route = map.get('route');
  if (route !== undefined) return Object.freeze({ ...base, route: decodeRoute(id, route) });
  return Object.freeze(packed === undefined ? base : { ...base, instance: decode(service, id, packed) });
}

/** An API route as stored, `revision|json` (see redis-scripts.ts), as a frozen StoredRoute. */
export function decodeRoute(id: string, packed: string): StoredRoute {
  const cut = packed.indexOf('|');
  return Object.freeze({ id, revision: Number(packed.slice(0, cut)), route: Object.freeze(JSON.parse(packed.slice(cut + 1)) as RouteBody) });
}
