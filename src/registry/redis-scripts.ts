/**
 * Lua for the Redis store. Every write is one script, so the record, its lease,
 * the registry revision and the change-feed entry change together or not at all,
 * and every process that sweeps sees the same single outcome.
 *
 * Time comes from `redis.call('TIME')`: leases are judged on the Redis server's
 * clock, never a proxy's. Redis 7 replicates scripts by effects, so TIME is allowed
 * before writes.
 *
 * Keys (all under one hash tag so a script's keys share a Cluster slot):
 *   {p}:rev       string  registry revision (INCR per change)
 *   {p}:svc:<s>   hash    id → packed record (see PACKED RECORD)
 *   {p}:services  set     services with at least one instance
 *   {p}:svcrev    hash    service → revision of its last change
 *   {p}:leases    zset    "service\nid" → lease expiry (ms, Redis clock)
 *   {p}:feed      stream  change feed, entry id `${revision}-0`
 *   {p}:routes    hash    API route id → `revision|json` (json: the canonical route body)
 *   {p}:downers   hash    declared route key (host+path) → the one service declaring it
 *   {p}:drefs     hash    declared route key → instances of that service declaring it
 *   {p}:iroutes   hash    "service\nid" → that instance's declared route keys, "\n"-separated
 *
 * The three declared-route hashes are named from the hash tag (like service hashes):
 * register, deregister and sweep keep them in step with the records they describe.
 *
 * PACKED RECORD: `expiresAt|registeredAt|ttl|weight|status|body` where the first
 * five are the fields scripts change or compare and `body` is canonical JSON of
 * the rest ({host, port, zone, tags, metadata}) written by TypeScript. Scripts
 * never decode JSON (cjson cannot tell [] from {}), they compare it as a string.
 */
import { createHash } from 'node:crypto';

export interface LuaScript {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
}

const script = (name: string, body: string): LuaScript => {
  const lua = `${PRELUDE}\n${body}`;
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
};

const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function num(n)
  return string.format('%.0f', n)
end
local function unpack_record(value)
  return string.match(value, '^(%d+)|(%d+)|(%d+)|(%d+)|([%u_]+)|(.*)$')
end
-- One revision per change; the feed entry carries it as its id so a reader can prove continuity.
local function emit(rev_key, svcrev_key, feed_key, feed_length, kind, service, id, now, value)
  local rev = redis.call('INCR', rev_key)
  redis.call('HSET', svcrev_key, service, rev)
  if value then
    redis.call('XADD', feed_key, 'MAXLEN', '~', feed_length, rev .. '-0',
      'type', kind, 'service', service, 'id', id, 'at', num(now), 'record', value)
  else
    redis.call('XADD', feed_key, 'MAXLEN', '~', feed_length, rev .. '-0',
      'type', kind, 'service', service, 'id', id, 'at', num(now))
  end
  return rev
end
local function split_lines(text)
  local out = {}
  if text then
    for part in string.gmatch(text, '[^\\n]+') do table.insert(out, part) end
  end
  return out
end
-- Gives back the declared routes an instance claimed; a key nobody declares any more loses its owner.
local function release_routes(tag, member)
  local claimed = redis.call('HGET', tag .. ':iroutes', member)
  if not claimed then return end
  for _, k in ipairs(split_lines(claimed)) do
    if redis.call('HINCRBY', tag .. ':drefs', k, -1) <= 0 then
      redis.call('HDEL', tag .. ':drefs', k)
      redis.call('HDEL', tag .. ':downers', k)
    end
  end
  redis.call('HDEL', tag .. ':iroutes', member)
end
`;

/**
 * KEYS: rev, svc, services, svcrev, leases, feed
 * ARGV: service, id, ttl, weight, status, body, maxInstances, feedLength, keyPrefix, declared route keys ("\n"-separated)
 * → {kind, packed, at} where kind is register | update | same | limit,
 *   or {'conflict', routeKey, ownerService} when another service declares one of the routes
 */
export const REGISTER = script(
  'register',
  `
local now = now_ms()
local service, id, ttl, tag = ARGV[1], ARGV[2], ARGV[3], ARGV[9]
local route_keys = split_lines(ARGV[10])
for _, k in ipairs(route_keys) do
  local owner = redis.call('HGET', tag .. ':downers', k)
  if owner and owner ~= service then return {'conflict', k, owner} end
end
local prev = redis.call('HGET', KEYS[2], id)
local registered = now
local kind = 'register'
if prev then
  local _, reg, pttl, pweight, pstatus, pbody = unpack_record(prev)
  registered = tonumber(reg)
  if pttl == ttl and pweight == ARGV[4] and pstatus == ARGV[5] and pbody == ARGV[6] then
    kind = 'same'
  else
    kind = 'update'
  end
elseif redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[7]) then
  return {'limit', '', num(now)}
end
local expires = now + tonumber(ttl) * 1000
local value = num(expires) .. '|' .. num(registered) .. '|' .. ttl .. '|' .. ARGV[4] .. '|' .. ARGV[5] .. '|' .. ARGV[6]
redis.call('HSET', KEYS[2], id, value)
redis.call('SADD', KEYS[3], service)
redis.call('ZADD', KEYS[5], expires, service .. '\\n' .. id)
release_routes(tag, service .. '\\n' .. id)
if #route_keys > 0 then
  for _, k in ipairs(route_keys) do
    redis.call('HINCRBY', tag .. ':drefs', k, 1)
    redis.call('HSET', tag .. ':downers', k, service)
  end
  redis.call('HSET', tag .. ':iroutes', service .. '\\n' .. id, ARGV[10])
end
if kind ~= 'same' then
  emit(KEYS[1], KEYS[4], KEYS[6], ARGV[8], kind, service, id, now, value)
end
return {kind, value, num(now)}
`,
);

/**
 * KEYS: rev, svc, svcrev, leases, feed
 * ARGV: service, id, weight ('' = keep), feedLength
 * → packed record, or false when unknown or already expired
 */
export const RENEW = script(
  'renew',
  `
local now = now_ms()
local service, id = ARGV[1], ARGV[2]
local prev = redis.call('HGET', KEYS[2], id)
if not prev then return false end
local exp, reg, ttl, weight, status, body = unpack_record(prev)
-- An expired lease stays dead until the sweep removes it: the client must register again.
if tonumber(exp) <= now then return false end
local new_weight = weight
if ARGV[3] ~= '' then new_weight = ARGV[3] end
local expires = now + tonumber(ttl) * 1000
local value = num(expires) .. '|' .. reg .. '|' .. ttl .. '|' .. new_weight .. '|' .. status .. '|' .. body
redis.call('HSET', KEYS[2], id, value)
redis.call('ZADD', KEYS[4], expires, service .. '\\n' .. id)
if new_weight ~= weight then
  emit(KEYS[1], KEYS[3], KEYS[5], ARGV[4], 'update', service, id, now, value)
end
return value
`,
);

/**
 * KEYS: rev, svc, svcrev, feed
 * ARGV: service, id, status, feedLength
 * → packed record, or false when unknown
 */
export const SET_STATUS = script(
  'set-status',
  `
local prev = redis.call('HGET', KEYS[2], ARGV[2])
if not prev then return false end
local exp, reg, ttl, weight, status, body = unpack_record(prev)
if status == ARGV[3] then return prev end
local value = exp .. '|' .. reg .. '|' .. ttl .. '|' .. weight .. '|' .. ARGV[3] .. '|' .. body
redis.call('HSET', KEYS[2], ARGV[2], value)
emit(KEYS[1], KEYS[3], KEYS[4], ARGV[4], 'status', ARGV[1], ARGV[2], now_ms(), value)
return value
`,
);

/**
 * KEYS: rev, svc, services, svcrev, leases, feed
 * ARGV: service, id, feedLength, keyPrefix
 * → 1 when removed, 0 when unknown
 */
export const DEREGISTER = script(
  'deregister',
  `
if redis.call('HDEL', KEYS[2], ARGV[2]) == 0 then return 0 end
redis.call('ZREM', KEYS[5], ARGV[1] .. '\\n' .. ARGV[2])
release_routes(ARGV[4], ARGV[1] .. '\\n' .. ARGV[2])
if redis.call('HLEN', KEYS[2]) == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
emit(KEYS[1], KEYS[4], KEYS[6], ARGV[3], 'deregister', ARGV[1], ARGV[2], now_ms(), false)
return 1
`,
);

/**
 * KEYS: rev, services, svcrev, leases, feed
 * ARGV: keyPrefix ("{p}"), selfPreservation fraction, minInstances, feedLength, maxDue
 * → {expired, {{service, wouldExpire, instances}, ...}}
 *
 * Service hashes are named from keyPrefix rather than KEYS because the due
 * services are only known inside the script; they share the hash tag, so they
 * live in the same Cluster slot.
 *
 * At most maxDue leases are handled per run (the earliest). When the batch is
 * full it may hold only part of a service's due leases, and judging
 * self-preservation on that part would let a mass expiry through in slices. So
 * for a full batch each service's due count is taken from its whole hash (each
 * record starts with its expiry): O(that service's instances), and only then.
 */
export const SWEEP = script(
  'sweep',
  `
local now = now_ms()
local fraction, min_instances, max_due = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local due = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, max_due)
local batch_full = #due >= max_due
-- Leases of the whole service that are due, read from the records themselves.
local function due_in(svc_key)
  local n = 0
  for _, value in ipairs(redis.call('HVALS', svc_key)) do
    local expires = string.match(value, '^(%d+)|')
    if expires and tonumber(expires) <= now then n = n + 1 end
  end
  return n
end
local order, groups = {}, {}
for _, member in ipairs(due) do
  local cut = string.find(member, '\\n', 1, true)
  local service, id = string.sub(member, 1, cut - 1), string.sub(member, cut + 1)
  if not groups[service] then
    groups[service] = {}
    table.insert(order, service)
  end
  table.insert(groups[service], id)
end
table.sort(order)
local expired, held = 0, {}
for _, service in ipairs(order) do
  local ids = groups[service]
  table.sort(ids)
  local svc_key = ARGV[1] .. ':svc:' .. service
  local total = redis.call('HLEN', svc_key)
  local would_expire = #ids
  local judged = fraction > 0 and total >= min_instances
  if judged and batch_full and would_expire <= fraction * total then
    would_expire = math.max(would_expire, due_in(svc_key))
  end
  if judged and would_expire > fraction * total then
    table.insert(held, {service, would_expire, total})
  else
    for _, id in ipairs(ids) do
      redis.call('ZREM', KEYS[4], service .. '\\n' .. id)
      if redis.call('HDEL', svc_key, id) == 1 then
        release_routes(ARGV[1], service .. '\\n' .. id)
        emit(KEYS[1], KEYS[3], KEYS[5], ARGV[4], 'expire', service, id, now, false)
        expired = expired + 1
      end
    end
    if redis.call('HLEN', svc_key) == 0 then redis.call('SREM', KEYS[2], service) end
  end
end
return {expired, held}
`,
);

/**
 * KEYS: rev, services, svcrev, routes
 * ARGV: keyPrefix
 * → {revision, {{service, serviceRevision, {id, packed, ...}}, ...}, {routeId, packedRoute, ...}} at one revision
 */
export const STATE = script(
  'state',
  `
local names = redis.call('SMEMBERS', KEYS[2])
table.sort(names)
local services = {}
for _, name in ipairs(names) do
  local rev = redis.call('HGET', KEYS[3], name) or '0'
  table.insert(services, {name, rev, redis.call('HGETALL', ARGV[1] .. ':svc:' .. name)})
end
return {redis.call('GET', KEYS[1]) or '0', services, redis.call('HGETALL', KEYS[4])}
`,
);

/**
 * The first step of a paged state load: the revision, every service name and the API
 * routes (few, small), atomically.
 * KEYS: rev, services, routes
 * → {revision, {name, ...}, {routeId, packedRoute, ...}}
 */
export const STATE_NAMES = script(
  'state-names',
  `
return {redis.call('GET', KEYS[1]) or '0', redis.call('SMEMBERS', KEYS[2]), redis.call('HGETALL', KEYS[3])}
`,
);

/**
 * One page of a paged state load: each named service with the revision of its last change,
 * read atomically per page (a service gone since the names were read comes back empty).
 * KEYS: svcrev
 * ARGV: keyPrefix, name, name, ...
 * → {{service, serviceRevision, {id, packed, ...}}, ...}
 */
export const STATE_PAGE = script(
  'state-page',
  `
local services = {}
for i = 2, #ARGV do
  local name = ARGV[i]
  table.insert(services, {name, redis.call('HGET', KEYS[1], name) or '0', redis.call('HGETALL', ARGV[1] .. ':svc:' .. name)})
end
return services
`,
);

/**
 * The clock changes are stamped with, read on the node that stamps them (the key only
 * routes the call to its Cluster slot).
 * KEYS: rev
 * → Redis TIME in ms
 */
export const CLOCK = script('clock', `return now_ms()`);

/**
 * KEYS: services
 * ARGV: keyPrefix
 * → {name, count, name, count, ...} sorted by name
 */
export const LIST_SERVICES = script(
  'list-services',
  `
local names = redis.call('SMEMBERS', KEYS[1])
table.sort(names)
local out = {}
for _, name in ipairs(names) do
  table.insert(out, name)
  table.insert(out, redis.call('HLEN', ARGV[1] .. ':svc:' .. name))
end
return out
`,
);

/**
 * KEYS: svc, svcrev
 * ARGV: service
 * → {serviceRevision, {id, packed, ...}}
 */
export const GET_SERVICE = script(
  'get-service',
  `
return {redis.call('HGET', KEYS[2], ARGV[1]) or '0', redis.call('HGETALL', KEYS[1])}
`,
);

/**
 * Create or replace an API route. An equal body (canonical JSON) is no change and no event.
 * KEYS: rev, routes, feed
 * ARGV: id, json, feedLength
 * → {kind, packedRoute} where kind is create | update | same; packedRoute is `revision|json`
 */
export const ROUTE_PUT = script(
  'route-put',
  `
local prev = redis.call('HGET', KEYS[2], ARGV[1])
if prev and string.match(prev, '^%d+|(.*)$') == ARGV[2] then return {'same', prev} end
local rev = redis.call('INCR', KEYS[1])
local value = rev .. '|' .. ARGV[2]
redis.call('HSET', KEYS[2], ARGV[1], value)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], rev .. '-0', 'type', 'route-set', 'id', ARGV[1], 'at', num(now_ms()), 'route', value)
if prev then return {'update', value} end
return {'create', value}
`,
);

/**
 * KEYS: rev, routes, feed
 * ARGV: id, feedLength
 * → 1 when removed, 0 when unknown
 */
export const ROUTE_DELETE = script(
  'route-delete',
  `
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
local rev = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], rev .. '-0', 'type', 'route-delete', 'id', ARGV[1], 'at', num(now_ms()))
return 1
`,
);
