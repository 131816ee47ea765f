/** Every system the bench knows, in table order, and the subset `--quick` runs by default. */
import type { SystemDefinition } from '../system.js';
import { bareHttpProxy } from './bare-http-proxy.js';
import { bareUndici } from './bare-undici.js';
import { caddy } from './caddy.js';
import { direct } from './direct.js';
import { haproxy } from './haproxy.js';
import { nginxKeepalive512, nginxKeepalive64 } from './nginx.js';
import { httpRawUpstream, rawPrototype, wasmPrototype } from './raw-proto.js';
import { redbird } from './redbird.js';
import { handleSplice, tcpSplice } from './splice.js';
import { waypostHttpProxy, waypostHttpProxyLog, waypostRaw, waypostRawLog, waypostUndici, waypostUndiciLog } from './waypost.js';

export const ALL_SYSTEMS: readonly SystemDefinition[] = [
  direct,
  nginxKeepalive64,
  nginxKeepalive512,
  haproxy,
  caddy,
  redbird,
  bareHttpProxy,
  bareUndici,
  rawPrototype,
  httpRawUpstream,
  tcpSplice,
  handleSplice,
  wasmPrototype,
  waypostHttpProxy,
  waypostUndici,
  waypostRaw,
  waypostHttpProxyLog,
  waypostUndiciLog,
  waypostRawLog,
];

/** Quick mode (under 40 s) keeps the references, the native peers, the Node floors and Waypost's default engine with and without the access log. */
const QUICK_IDS = new Set([
  'direct',
  'nginx-ka64',
  'haproxy',
  'caddy',
  'bare-undici',
  'raw-proto',
  'waypost-undici',
  'waypost-undici-log',
  'waypost-raw',
  'waypost-raw-log',
]);

/** Systems whose id equals or starts with one of `requested` (`nginx` selects both nginx rows). */
export function selectSystems(requested: string[] | undefined, quick: boolean): SystemDefinition[] {
  if (!requested) return ALL_SYSTEMS.filter((s) => !quick || QUICK_IDS.has(s.id));
  const unknown = requested.filter((r) => !ALL_SYSTEMS.some((s) => s.id.startsWith(r)));
  if (unknown.length > 0) {
    throw new Error(`--systems: unknown ${unknown.join(', ')}; known: ${ALL_SYSTEMS.map((s) => s.id).join(', ')}`);
  }
  return ALL_SYSTEMS.filter((s) => requested.some((r) => s.id.startsWith(r)));
}
