/**
 * The parts of undici the undici engine uses (Pool, buildConnector, errors), required from their
 * own files instead of undici's index. The index also loads fetch, WebSocket, the cache, mocks,
 * proxy agents…: ~9 MiB of resident memory that an idle proxy never needs (bench/idle-memory.ts).
 * undici has no `exports` map, so these paths are reachable; they are the very modules the index
 * re-exports (test/unit/undici-parts.test.ts checks the identity, so an upgrade that moves them
 * fails loudly). Types still come from undici's public declarations. Only `dispatch` is used:
 * request()/stream() are added to dispatchers by undici's index, which forward-auth loads.
 */
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

export type Pool = Undici.Pool;
export type Connector = Undici.buildConnector.connector;
export type { Dispatcher } from 'undici';

export interface UndiciParts {
  Pool: typeof Undici.Pool;
  buildConnector: typeof Undici.buildConnector;
  errors: typeof Undici.errors;
}

let parts: UndiciParts | undefined;

/** Required on first use, so a proxy on another engine never loads undici at all. */
export function undiciParts(): UndiciParts {
  return (parts ??= {
    Pool: require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool,
    buildConnector: require('undici/lib/core/connect.js') as typeof Undici.buildConnector,
    errors: require('undici/lib/core/errors.js') as typeof Undici.errors,
  });
}
