/**
 * Retries go to an endpoint not tried yet for the same request when one exists.
 * Compared by key, not identity: a set may be rebuilt between two attempts.
 */
import type { PickContext } from './policy.js';
import type { Endpoint } from '../endpoint.js';

export function wasTried(endpoint: Endpoint, ctx: PickContext): boolean {
  const tried = ctx.tried;
  if (tried === undefined) return false;
  for (let i = 0; i < tried.length; i++) if (tried[i]!.key === endpoint.key) return true;
  return false;
}

/** true when the request has tried at least one endpoint already. */
export function hasTried(ctx: PickContext): boolean {
  return ctx.tried !== undefined && ctx.tried.length > 0;
}

/** A source of uniform numbers in [0, 1); injected so tests are deterministic. */
export type RandomSource = () => number;
