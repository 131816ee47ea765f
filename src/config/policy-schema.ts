/**
 * Route policy keys (DESIGN §8): the same keys under each route and under
 * `defaults`. A route's key replaces the default's key as a whole (no deep
 * merge), so what a route says is all that applies to it.
 *
 * Only shapes and bounds live here; what each step does is in src/policy/, one
 * file per step, compiled into the route's chain when the route table is built.
 */
import { createRequire } from 'node:module';
import { z } from 'zod';
import { SERVICE_NAME_PATTERN } from '../types.js';
import { HEADER_TEMPLATE_VARIABLES, URL_TEMPLATE_VARIABLES, unknownTemplateVariable, usesTemplateVariable } from './template-syntax.js';
import { HOP_BY_HOP } from '../net/hop-by-hop.js';
import { cidr, duration, durationValue } from './fields.js';

/** Fields forward-auth must not copy from an auth answer: they frame or route this hop, not the request. */
const NOT_COPYABLE = new Set([...HOP_BY_HOP, 'host', 'content-length']);

/** An HTTP field name (RFC 9110 token), stored lower-case. */
export const headerName = z
  .string()
  .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'expected a header name')
  .transform((name) => name.toLowerCase());

/** A header value template: no control characters (CR/LF would split the head). */
const headerValueTemplate = z.string().max(4096).regex(/^[^\0-\x08\x0a-\x1f\x7f]*$/, 'expected a header value without control characters');

/** `100/s`, `6000/m`, `50000/h`, or a number of requests per second; normalised to requests per second. */
const rateValue = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const match = typeof value === 'number' ? [String(value), String(value), 's'] : /^(\d+(?:\.\d+)?)\s*\/\s*(s|m|h)$/.exec(value.trim());
  const amount = match === null ? NaN : Number(match[1]);
  if (!(amount > 0) || !Number.isFinite(amount)) {
    ctx.addIssue({ code: 'custom', message: `expected a rate like 100/s, 600/m or 5000/h, got "${value}"` });
    return z.NEVER;
  }
  const per = match![2] === 'h' ? 3600 : match![2] === 'm' ? 60 : 1;
  return amount / per;
}).describe('a rate like 100/s, 600/m or 5000/h');

/** `20%` or a number 0-100; normalised to a fraction 0-1. */
const percentValue = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const n = typeof value === 'number' ? value : /^\d+(\.\d+)?%$/.test(value.trim()) ? Number(value.trim().slice(0, -1)) : NaN;
  if (!(n >= 0 && n <= 100)) {
    ctx.addIssue({ code: 'custom', message: `expected a percentage like 20%, got "${value}"` });
    return z.NEVER;
  }
  return n / 100;
}).describe('a percentage like 20%');

const rateLimitSchema = z.strictObject({
  /** Sustained rate: `100/s`, `600/m`, `5000/h`. */
  rate: rateValue,
  /** Requests admitted at once above the sustained rate (token bucket size); default: one second's worth. */
  burst: z.number().int().min(1).max(1_000_000).optional(),
  /** What one bucket counts: the client address, a request header's value, or the whole route. */
  key: z
    .string()
    .regex(/^(client-ip|route|header:[!#$%&'*+\-.^_`|~0-9A-Za-z]+)$/, 'expected client-ip, route or header:NAME')
    .default('client-ip'),
  /** Count across every proxy on the same Redis (reconciled asynchronously, never a Redis call per request). */
  shared: z.boolean().default(false),
  /** Distinct keys remembered at most (least recently used go first). */
  maxKeys: z.number().int().min(1).max(10_000_000).default(100_000),
});

const concurrencySchema = z.strictObject({
  /** In-flight requests from this proxy to one instance at most. */
  maxPerInstance: z.number().int().min(1).max(100_000),
  /** Requests waiting for a free instance at most (per route); beyond it: 503 overloaded. */
  maxPending: z.number().int().min(0).max(1_000_000).default(100),
  /** How long a request may wait for a free instance before 503 overloaded. */
  queueTimeout: duration('1s'),
});

/** What a retry may follow: a connect failure, a reset, or an upstream status code. */
const retryOn = z.union([
  z.enum(['connect-failure', 'reset', 'timeout']),
  z.number().int().min(500).max(599),
]);

const retrySchema = z.strictObject({
  on: z.array(retryOn).min(1).default(['connect-failure', 'reset']),
  /** Further attempts after the first (`retries: N` on a route is the short form). */
  attempts: z.number().int().min(0).max(10).default(2),
  /** Each attempt's own time limit for the response head; 0 = the route's header timeout. */
  perTryTimeout: duration('0s'),
  /** Base of the exponential backoff between attempts (with full jitter). */
  backoff: duration('25ms'),
  /** Retries in flight at most this share of the route's active requests (at least 3). */
  budget: percentValue.default(0.2),
  /** Retry status codes for non-idempotent methods too (POST, PATCH). */
  unsafe: z.boolean().default(false),
});

/**
 * Request headers a route may not edit, and why: framing and hop-by-hop fields would open a
 * request-smuggling or desync vector; the rest the proxy sets itself after the policy chain
 * (setForwardedHeaders, the loop guard), and Host also routes the request and is HTTP/2's :authority.
 */
const PROXY_OWNED_REQUEST_HEADERS: ReadonlyMap<string, string> = new Map([
  ...['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'proxy-authorization', 'proxy-authenticate'].map(
    (name) => [name, 'a hop-by-hop header'] as const,
  ),
  ['content-length', 'message framing'],
  ['host', 'the authority the request was routed by'],
  ...['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id', 'via'].map((name) => [name, 'set by the proxy itself'] as const),
]);

/** Response headers a route may not edit: framing, hop-by-hop, and the encoding `compress` owns. */
const PROXY_OWNED_RESPONSE_HEADERS: ReadonlyMap<string, string> = new Map([
  ...['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'].map((name) => [name, 'a hop-by-hop header'] as const),
  ['content-length', 'message framing'],
  ['content-encoding', 'the body encoding (see compress)'],
]);

const headerEditsShape = z.strictObject({
  /** Replace (or create) these headers. Values may use {client_ip} {request_id} {service} {instance} {host}. */
  set: z.record(headerName, headerValueTemplate).default({}),
  /** Append these headers (a list adds one field per value). */
  add: z.record(headerName, z.union([headerValueTemplate, z.array(headerValueTemplate)])).default({}),
  /** Drop these headers. */
  remove: z.array(headerName).default([]),
});

/** Header edits with their names and template variables checked; the issue's path names the field. */
function headerEditsSchema(owned: ReadonlyMap<string, string>, side: 'request' | 'response') {
  return headerEditsShape.superRefine((edits, ctx) => {
    const refuse = (path: (string | number)[], message: string, input: unknown): void => ctx.addIssue({ code: 'custom', path, message, input });
    const checkName = (name: string, path: (string | number)[]): void => {
      const why = owned.get(name);
      if (why !== undefined) refuse(path, `expected a header the proxy does not own, got "${name}" (${why})`, name);
    };
    const checkValue = (template: string, path: (string | number)[]): void => {
      const unknown = unknownTemplateVariable(template, HEADER_TEMPLATE_VARIABLES);
      if (unknown !== undefined) refuse(path, `expected variables among ${variableList(HEADER_TEMPLATE_VARIABLES)}, got {${unknown}}`, template);
    };
    for (const [name, template] of Object.entries(edits.set)) {
      checkName(name, ['set', name]);
      checkValue(template, ['set', name]);
    }
    for (const [name, value] of Object.entries(edits.add)) {
      checkName(name, ['add', name]);
      const values = typeof value === 'string' ? [value] : value;
      values.forEach((template, i) => {
        const path = typeof value === 'string' ? ['add', name] : ['add', name, i];
        checkValue(template, path);
        // The instance changes between attempts: an added field would pile up one per attempt.
        if (side === 'request' && usesTemplateVariable(template, 'instance')) {
          refuse(path, `must not use {instance} (it changes between attempts: use set), got "${template}"`, template);
        }
      });
    }
    edits.remove.forEach((name, i) => checkName(name, ['remove', i]));
  });
}

function variableList(names: readonly string[]): string {
  return names.map((name) => `{${name}}`).join(' ');
}

/** Rewritten paths longer than this are refused (414) instead of run through a regex. */
export const MAX_REWRITE_PATH_CHARS = 8192;

const rewriteSchema = z.union([
  z.strictObject({
    prefix: z.strictObject({
      from: z.string().startsWith('/', 'must start with "/"'),
      to: z.string().startsWith('/', 'must start with "/"'),
    }),
  }),
  z
    .strictObject({
      /** Applied to the path (query kept); checked at load to run in linear time. */
      regex: z.string().min(1).max(1000),
      /** `$1`, `$<name>` refer to the regex's groups (JavaScript String.replace). */
      replacement: z.string().max(4096),
    })
    .superRefine(({ regex, replacement }, ctx) => {
      const issue = regexIssue(regex, replacement);
      if (issue !== undefined) ctx.addIssue({ code: 'custom', path: [issue.field], message: issue.message, input: issue.field === 'regex' ? regex : replacement });
    }),
]);

/** The regex checker is loaded with the first rewrite regex: a config without one never needs it (~2 MiB resident). */
let safeRegex: typeof import('safe-regex2').default | undefined;

/** Why a rewrite regex (or its replacement) is refused, or undefined when it is usable. */
function regexIssue(regex: string, replacement: string): { field: 'regex' | 'replacement'; message: string } | undefined {
  let compiled: RegExp;
  try {
    compiled = new RegExp(regex);
  } catch (err) {
    return { field: 'regex', message: `expected a valid regular expression (${(err as Error).message})` };
  }
  // Star height > 1 (nested quantifiers) can backtrack exponentially on a crafted path.
  safeRegex ??= createRequire(import.meta.url)('safe-regex2') as typeof import('safe-regex2').default;
  if (!safeRegex(compiled)) return { field: 'regex', message: 'expected a regular expression without nested quantifiers (it could backtrack catastrophically)' };
  const groups = new RegExp(`${regex}|`).exec('')!.length - 1;
  for (const ref of replacement.matchAll(/\$(\d{1,2})/g)) {
    if (Number(ref[1]) > groups) return { field: 'replacement', message: `expected references to the regex's ${groups} group(s), got $${ref[1]}` };
  }
  return undefined;
}

const redirectSchema = z.union([
  z.literal('https'),
  z.strictObject({
    /** URL template: {scheme} {host} {path} {query} {uri} and the variables of header templates. */
    to: z
      .string()
      .min(1)
      .max(4096)
      .superRefine((to, ctx) => {
        const unknown = unknownTemplateVariable(to, URL_TEMPLATE_VARIABLES);
        if (unknown !== undefined) ctx.addIssue({ code: 'custom', input: to, message: `expected variables among ${variableList(URL_TEMPLATE_VARIABLES)}, got {${unknown}}` });
        // A target starting with a variable (or "//") could become another site's URL (open redirect).
        else if (!/^(https?:\/\/|\{scheme\}:\/\/|\/(?![/\\]))/i.test(to)) {
          ctx.addIssue({ code: 'custom', input: to, message: 'expected an absolute http(s):// or {scheme}:// URL, or a path starting with a single "/"' });
        }
      }),
    status: z.union([z.literal(301), z.literal(302), z.literal(307), z.literal(308)]).default(302),
  }),
]);

const compressSchema = z.strictObject({
  /** Content types compressed (`text/*` matches every text type). */
  types: z
    .array(z.string().regex(/^[a-z0-9!#$&^_.+-]+\/(\*|[a-z0-9!#$&^_.+-]+)$/i, 'expected a media type like text/* or application/json'))
    .min(1)
    .default(['text/*', 'application/json', 'application/javascript', 'application/xml', 'image/svg+xml']),
  /** Responses known to be smaller are sent as they are. */
  minBytes: z.number().int().min(0).default(1024),
});

/**
 * `*`, `null`, or scheme://host[:port] where the host may start with `*.` (one or more labels);
 * lower case, as browsers send origins. No regex syntax: patterns are matched by prefix/suffix.
 */
const corsOrigin = z
  .string()
  .regex(
    /^(\*|null|https?:\/\/((\*\.)?([a-z0-9-]+\.)*[a-z0-9-]+|\[[0-9a-f:.]+\])(:\d{1,5})?)$/,
    'expected *, an origin like https://app.example.com (lower case, no path) or https://*.example.com',
  );

const corsSchema = z
  .strictObject({
    /** Allowed origins: `*`, exact origins (`https://app.example.com`) or `https://*.example.com`. */
    origins: z.array(corsOrigin).min(1),
    methods: z.array(z.string().regex(/^[A-Z]+$/, 'expected an upper-case method')).default(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']),
    /** Request headers a preflight may ask for. */
    headers: z.array(headerName).default([]),
    /** Response headers scripts may read. */
    exposeHeaders: z.array(headerName).default([]),
    credentials: z.boolean().default(false),
    /** How long browsers may cache a preflight. */
    maxAge: duration('10m'),
  })
  .superRefine((cors, ctx) => {
    // Any site could then read answers made with the user's cookies.
    if (cors.credentials && cors.origins.includes('*')) {
      ctx.addIssue({ code: 'custom', path: ['origins'], input: '*', message: 'expected explicit origins with credentials: true, got "*"' });
    }
  });

const clientCidrsSchema = z.strictObject({
  allow: z.array(cidr).default([]),
  deny: z.array(cidr).default([]),
});

const authSchema = z
  .strictObject({
    /** A registered service (balanced and health-checked like any route's). */
    service: z.string().regex(SERVICE_NAME_PATTERN, 'expected a service name').optional(),
    /** Or a fixed http(s) URL. */
    url: z.url({ protocol: /^https?$/ }).optional(),
    /** Path asked on the auth service (with `service`). */
    path: z.string().startsWith('/', 'must start with "/"').default('/'),
    /** Headers of the auth service's 2xx answer copied onto the upstream request (the client's values always dropped). */
    copyHeaders: z
      .array(headerName.refine((name) => !NOT_COPYABLE.has(name), 'expected an end-to-end header (not hop-by-hop, Host or Content-Length)'))
      .max(64)
      .default([]),
    /** Bounds connecting, the answer's head and its body (each); 0 would mean no bound, so it is refused. */
    timeout: durationValue.refine((ms) => ms >= 1 && ms <= 600_000, 'expected a duration between 1ms and 10m').default(5_000),
  })
  .refine((auth) => (auth.service === undefined) !== (auth.url === undefined), {
    message: 'expected exactly one of service or url',
  });

const splitGroupSchema = z.strictObject({
  /** Instances carrying every one of these tags (the first such group takes them); omitted = the instances no group takes. */
  tags: z.array(z.string().min(1).max(256)).max(16).optional(),
  /** Share of the traffic, relative to the other groups' weights (5 and 95 → 5 %). */
  weight: z.number().min(0).max(100),
});

const splitGroups = z
  .array(splitGroupSchema)
  .min(1)
  .max(16)
  .refine((groups) => groups.some((group) => group.weight > 0), { message: 'expected at least one group with a weight above 0' });

const splitSchema = z.union([
  splitGroups,
  z.strictObject({
    groups: splitGroups,
    /** Keep a client on one group: by a cookie the proxy sets naming its group, or by a hash of a request header. */
    sticky: z
      .strictObject({
        cookie: z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'expected a cookie name').optional(),
        header: headerName.optional(),
      })
      .refine((sticky) => sticky.cookie !== undefined || sticky.header !== undefined, { message: 'expected cookie or header' })
      .optional(),
  }),
]);

/** The policy keys, spread into the route schema and used as `defaults`. */
export const routePolicyShape = {
  clientCidrs: clientCidrsSchema.optional(),
  redirect: redirectSchema.optional(),
  cors: corsSchema.optional(),
  rateLimit: rateLimitSchema.optional(),
  auth: authSchema.optional(),
  requestHeaders: headerEditsSchema(PROXY_OWNED_REQUEST_HEADERS, 'request').optional(),
  rewrite: rewriteSchema.optional(),
  split: splitSchema.optional(),
  concurrency: concurrencySchema.optional(),
  retry: retrySchema.optional(),
  responseHeaders: headerEditsSchema(PROXY_OWNED_RESPONSE_HEADERS, 'response').optional(),
  compress: compressSchema.optional(),
};

export const policyDefaultsSchema = z.strictObject(routePolicyShape);

export type PolicyConfig = z.output<typeof policyDefaultsSchema>;
export type RateLimitConfig = z.output<typeof rateLimitSchema>;
export type ConcurrencyConfig = z.output<typeof concurrencySchema>;
export type RetryConfig = z.output<typeof retrySchema>;
export type HeaderEditsConfig = z.output<typeof headerEditsShape>;
export type RewriteConfig = z.output<typeof rewriteSchema>;
export type RedirectConfig = z.output<typeof redirectSchema>;
export type CompressConfig = z.output<typeof compressSchema>;
export type CorsConfig = z.output<typeof corsSchema>;
export type ClientCidrsConfig = z.output<typeof clientCidrsSchema>;
export type AuthConfig = z.output<typeof authSchema>;
export type SplitConfig = z.output<typeof splitSchema>;

/** The policy keys, in the order DESIGN §8 applies them. */
export const POLICY_KEYS = Object.keys(routePolicyShape) as (keyof PolicyConfig)[];
