/**
 * Shared ejections: an ejection one proxy decides reaches every other proxy on
 * the same Redis within milliseconds, so one bad instance does not have to fail
 * `consecutiveFailures` times on every proxy separately.
 *
 * - Publish: one Lua script adds the ejection to the sorted set
 *   `{prefix}:ejections:active` (score = expiry on the Redis server's clock,
 *   expired entries trimmed) and PUBLISHes it on the channel `{prefix}:ejections`.
 * - Receive: a dedicated subscriber connection. Messages carry a duration, not an
 *   absolute time, so proxies' clocks never need to agree; pub/sub latency (well
 *   under a millisecond on a LAN) is the only error.
 * - Late joiners: on start and after every reconnect the subscriber reads the
 *   sorted set (with the server's TIME) and applies what is still running.
 * - Advisory: the receiver (OutlierDetector.applyShared) applies it only to a
 *   known instance, within its own maxEjectionPercent, and it ends by itself.
 *   Own messages are ignored (origin id). When Redis is unreachable, publishing
 *   fails quietly and each proxy keeps deciding on its own.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { WaypostConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { createRedisClient, parseRedisTopology, type RedisClient } from '../registry/redis-connection.js';
import type { EjectionNotice, OutlierDetector } from './passive.js';

/** A peer's ejection reason longer than this is left out. */
const MAX_REASON_LENGTH = 200;

/** KEYS[1] active set · ARGV: durationMs, member, channel, message prefix. Returns the expiry (server ms). */
const PUBLISH_EJECTION = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = now + tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], expires, ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
redis.call('PUBLISH', ARGV[3], ARGV[2])
return expires
`;

/** KEYS[1] active set. Returns { server now ms, member, expiry, member, expiry, … } of running ejections. */
const READ_EJECTIONS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = { now }
local rows = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES')
for i = 1, #rows do out[#out + 1] = rows[i] end
return out
`;

interface EjectionMessage extends EjectionNotice {
  origin: string;
  /** Unique per ejection, so the sorted set keeps one member per decision. */
  at: number;
}

export interface SharedEjectionsOptions {
  redis: WaypostConfig['redis'];
  detector: OutlierDetector;
  logger: Logger;
  /** This proxy's id in messages. @default host:pid:random */
  origin?: string;
}

export class SharedEjections {
  readonly origin: string;
  readonly #detector: OutlierDetector;
  readonly #log: Logger;
  readonly #publisher: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #activeKey: string;
  readonly #channel: string;
  #started = false;
  #closed = false;
  #stopSharing: (() => void) | undefined;
  /** Ejections received from peers and applied (for tests and diagnostics). */
  applied = 0;

  constructor(options: SharedEjectionsOptions) {
    const topology = parseRedisTopology(options.redis);
    this.origin = options.origin ?? `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.#detector = options.detector;
    this.#log = options.logger.child({ component: 'shared-ejections' });
    this.#publisher = createRedisClient(topology, this.#log, 'ejections-publish');
    // Subscriber mode: no command timeout (the connection just waits for messages).
    this.#subscriber = createRedisClient(topology, this.#log, 'ejections-subscribe', {}, true);
    const tag = `{${options.redis.prefix}}`;
    this.#activeKey = `${tag}:ejections:active`;
    this.#channel = `${tag}:ejections`;
  }

  /**
   * Subscribe, load running ejections, and share this proxy's own. Never throws:
   * without Redis the proxy decides alone, and ioredis keeps reconnecting.
   */
  async start(): Promise<void> {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#stopSharing = this.#detector.addEjectListener((notice) => this.#publish(notice));
    this.#subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.#channel) this.#receive(message);
    });
    // Also after every reconnect: catch up on ejections published while we were away.
    this.#subscriber.on('ready', () => void this.#catchUp());
    try {
      await Promise.all([this.#publisher.connect(), this.#subscriber.connect()]);
      await this.#subscriber.subscribe(this.#channel);
      await this.#catchUp();
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'shared ejections unavailable: deciding locally');
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopSharing?.();
    this.#publisher.disconnect();
    this.#subscriber.disconnect();
  }

  #publish(notice: EjectionNotice): void {
    if (this.#closed || this.#publisher.status !== 'ready') return;
    const message: EjectionMessage = { ...notice, origin: this.origin, at: Date.now() };
    this.#publisher
      .eval(PUBLISH_EJECTION, 1, this.#activeKey, String(notice.durationMs), JSON.stringify(message), this.#channel)
      .catch((err: Error) => this.#log.debug({ err: err.message, service: notice.service, id: notice.id }, 'shared ejection not published'));
  }

  #receive(text: string, remainingMs?: number): void {
    const message = parseMessage(text);
    if (message === undefined || message.origin === this.origin) return;
    const notice: EjectionNotice = {
      service: message.service,
      id: message.id,
      durationMs: remainingMs ?? message.durationMs,
      ejections: message.ejections,
      // Shown in the dashboard's health history only; bounded, since it came from the network.
      ...(typeof message.reason === 'string' && message.reason.length <= MAX_REASON_LENGTH ? { reason: message.reason } : {}),
    };
    if (this.#detector.applyShared(notice, message.origin)) this.applied += 1;
  }

  async #catchUp(): Promise<void> {
    if (this.#closed || this.#publisher.status !== 'ready') return;
    try {
      const rows = (await this.#publisher.eval(READ_EJECTIONS, 1, this.#activeKey)) as (string | number)[];
      const now = Number(rows[0]);
      for (let i = 1; i + 1 < rows.length; i += 2) this.#receive(String(rows[i]), Number(rows[i + 1]) - now);
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'running shared ejections not loaded');
    }
  }
}

function parseMessage(text: string): EjectionMessage | undefined {
  try {
    const m = JSON.parse(text) as Partial<EjectionMessage>;
    if (
      typeof m.service === 'string' &&
      typeof m.id === 'string' &&
      typeof m.origin === 'string' &&
      typeof m.durationMs === 'number' &&
      Number.isFinite(m.durationMs) &&
      typeof m.ejections === 'number'
    ) {
      return m as EjectionMessage;
    }
  } catch {
    // A foreign or garbled message on our channel: ignored.
  }
  return undefined;
}
