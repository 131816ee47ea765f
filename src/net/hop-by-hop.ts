/**
 * Connection-specific header fields (RFC 9110 §7.6.1): never forwarded by a
 * proxy, in either direction. A leaf module: the data path (src/proxy/headers.ts)
 * and forward-auth (src/policy/forward-auth.ts) both strip them.
 */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // Node answers 100-continue itself; forwarding it would make the upstream wait for a second "continue".
  'expect',
]);
