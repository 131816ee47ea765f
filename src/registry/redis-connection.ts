/**
 * Turns the `redis` config section into ioredis clients: a plain URL
 * (redis://, rediss://), Sentinel (`redis+sentinel://h1:p1,h2:p2/name` or
 * `sentinels` + `name`) or Cluster (`cluster` seeds).
 *
 * Client settings make an outage visible instead of hanging: no offline queue
 * (a command while disconnected fails at once; the store retries briefly so a
 * Sentinel failover is survived), a command timeout, and endless reconnects with
 * a capped backoff.
 */
import { createRequire } from 'node:module';
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { formatHostPort } from '../net/address.js';
import { ErrorCodes, WaypostError, configError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { WaypostConfig } from '../config/schema.js';

export type RedisConfig = Pick<WaypostConfig['redis'], 'url' | 'sentinels' | 'name' | 'cluster' | 'password'>;
export type RedisClient = Redis | Cluster;

/**
 * ioredis is loaded on the first Redis client, not at start-up: a proxy on the embedded
 * registry never needs it, and it is ~20 MiB of resident memory.
 */
let ioredis: typeof import('ioredis') | undefined;
function loadIoredis(): typeof import('ioredis') {
  ioredis ??= createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
  return ioredis;
}

interface HostPortPair {
  host: string;
  port: number;
}

export type RedisTopology =
  | { kind: 'standalone'; url: string; password: string }
  | { kind: 'sentinel'; sentinels: HostPortPair[]; name: string; password: string }
  | { kind: 'cluster'; nodes: HostPortPair[]; password: string };

export interface ConnectionTuning {
  /** A command without a reply after this long fails. @default 2000 */
  commandTimeoutMs?: number;
  /** @default 2000 */
  connectTimeoutMs?: number;
}

/** Parse and check the config; throws WaypostError(config) naming the field. */
export function parseRedisTopology(config: RedisConfig): RedisTopology {
  const password = config.password;
  if (config.cluster.length > 0) {
    return { kind: 'cluster', nodes: config.cluster.map((node, i) => parseNode(node, `redis.cluster[${i}]`)), password };
  }
  if (config.sentinels.length > 0) {
    if (!config.name) throw configError('redis.name', 'the Sentinel master name is required with redis.sentinels');
    return {
      kind: 'sentinel',
      sentinels: config.sentinels.map((node, i) => parseNode(node, `redis.sentinels[${i}]`)),
      name: config.name,
      password,
    };
  }
  const url = config.url.trim();
  if (url === '') {
    throw configError('redis.url', 'a Redis target is required: set redis.url, redis.sentinels with redis.name, or redis.cluster');
  }
  if (url.startsWith('redis+sentinel://')) return parseSentinelUrl(url, password);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw configError('redis.url', `expected redis://host:port, rediss://host:port or redis+sentinel://host:port,host:port/name; got "${url}"`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw configError('redis.url', `unsupported scheme "${parsed.protocol}"; expected redis://, rediss:// or redis+sentinel://`);
  }
  if (!parsed.hostname) throw configError('redis.url', `missing host in "${redactUrl(url)}"`);
  if (parsed.pathname.length > 1 && !/^\/\d{1,2}$/.test(parsed.pathname)) {
    throw configError('redis.url', `the path must be a database number like /0; got "${parsed.pathname}"`);
  }
  return { kind: 'standalone', url, password };
}

function parseSentinelUrl(url: string, password: string): RedisTopology {
  const match = /^redis\+sentinel:\/\/(?:([^@/]*)@)?([^/]+)\/([^/?#]+)\/?$/.exec(url);
  if (!match) {
    throw configError('redis.url', `expected redis+sentinel://host:port,host:port/mastername; got "${redactUrl(url)}"`);
  }
  const [, auth, hosts = '', name = ''] = match;
  const urlPassword = auth ? decodeURIComponent(auth.includes(':') ? auth.slice(auth.indexOf(':') + 1) : auth) : '';
  return {
    kind: 'sentinel',
    sentinels: hosts.split(',').map((node) => parseNode(node, 'redis.url')),
    name: decodeURIComponent(name),
    password: password || urlPassword,
  };
}

function parseNode(text: string, field: string): HostPortPair {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port < 1 || port > 65_535) throw configError(field, `expected host:port; got "${text}"`);
  return { host: (match[1] ?? match[2])!, port };
}

/** The target without credentials, for log lines and error messages. */
export function describeTopology(topology: RedisTopology): string {
  switch (topology.kind) {
    case 'standalone':
      return redactUrl(topology.url);
    case 'sentinel':
      return `redis+sentinel://${topology.sentinels.map(formatHostPort).join(',')}/${topology.name}`;
    case 'cluster':
      return `cluster ${topology.nodes.map(formatHostPort).join(',')}`;
  }
}

/** Redis's own default port, for a URL that names none. */
const DEFAULT_REDIS_PORT = 6379;

/**
 * The Redis target in an operator's words, without credentials: `Redis at
 * 10.0.0.5:6379`, `Redis master "main" via Sentinel 10.0.0.1:26379,…`, `Redis
 * Cluster at 10.0.0.1:7000,…`. The subject of every registry_unavailable message.
 */
export function redisSubject(topology: RedisTopology): string {
  switch (topology.kind) {
    case 'standalone': {
      const url = new URL(topology.url);
      const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
      return `Redis at ${formatHostPort({ host, port: Number(url.port || DEFAULT_REDIS_PORT) })}`;
    }
    case 'sentinel':
      return `Redis master "${topology.name}" via Sentinel ${topology.sentinels.map(formatHostPort).join(',')}`;
    case 'cluster':
      return `Redis Cluster at ${topology.nodes.map(formatHostPort).join(',')}`;
  }
}

/**
 * The registry_unavailable error for a failed Redis command. ioredis's own
 * wording ("Stream isn't writeable and enableOfflineQueue options is false")
 * describes its internals, not the outage: the message names the target
 * instead. A reply from Redis itself (NOREPLICAS, READONLY, …) is Redis's own
 * reason and is quoted. The ioredis error stays as `cause` for the logs.
 */
export function registryUnavailable(topology: RedisTopology, err: unknown): WaypostError {
  const isReply = (err as { name?: string } | null)?.name === 'ReplyError';
  const message = isReply
    ? `${redisSubject(topology)} refused the command: ${describeError(err)}`
    : `${redisSubject(topology)} is unreachable`;
  return new WaypostError(ErrorCodes.REGISTRY_UNAVAILABLE, message, { cause: err });
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * A new client for the topology, not yet connected (`lazyConnect`). `blocking`
 * clients (the feed reader's XREAD BLOCK) get no command timeout.
 */
export function createRedisClient(
  topology: RedisTopology,
  logger: Logger,
  role: string,
  tuning: ConnectionTuning = {},
  blocking = false,
): RedisClient {
  const base: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: tuning.connectTimeoutMs ?? 2000,
    retryStrategy: (times: number) => Math.min(50 * times, 500),
    ...(blocking ? {} : { commandTimeout: tuning.commandTimeoutMs ?? 2000 }),
    ...(topology.password ? { password: topology.password } : {}),
  };
  let client: RedisClient;
  switch (topology.kind) {
    case 'standalone':
      client = new (loadIoredis().Redis)(topology.url, base);
      break;
    case 'sentinel':
      client = new (loadIoredis().Redis)({
        ...base,
        sentinels: topology.sentinels,
        name: topology.name,
        sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000),
      });
      break;
    case 'cluster': {
      const options: ClusterOptions = {
        lazyConnect: true,
        enableOfflineQueue: false,
        clusterRetryStrategy: (times: number) => Math.min(100 * times, 1000),
        redisOptions: { ...base, lazyConnect: undefined },
      };
      client = new (loadIoredis().Cluster)(topology.nodes, options);
      break;
    }
  }
  const log = logger.child({ component: 'redis', role });
  // An ioredis client without an error listener crashes the process on the first outage.
  client.on('error', (err: Error) => log.debug({ err: err.message }, 'redis client error'));
  return client;
}
