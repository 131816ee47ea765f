/**
 * clientCidrs (DESIGN §8): allow and deny lists on the trusted client address
 * (PolicyRequest.clientIp: the peer, or the left-most X-Forwarded-For entry when
 * the peer is one of `trustedProxies`). Refused → 403 `forbidden`.
 *
 * - deny wins over allow;
 * - an empty allow list allows every address not denied;
 * - an address that cannot be read as an IP (`unknown`, a garbled header from a
 *   trusted proxy) is refused: it cannot be shown to be allowed or not denied.
 *
 * Both lists are compiled once per route build (cidr-ranges.ts).
 */
import type { ClientCidrsConfig } from '../config/policy-schema.js';
import { CidrRanges, parseClientAddress } from './cidr-ranges.js';
import type { PolicyRequest, RequestStep } from './step.js';

export class ClientCidrsStep implements RequestStep {
  readonly #allow: CidrRanges | undefined;
  readonly #deny: CidrRanges;

  constructor(config: ClientCidrsConfig) {
    const allow = new CidrRanges(config.allow);
    this.#allow = allow.empty ? undefined : allow;
    this.#deny = new CidrRanges(config.deny);
  }

  /** Whether `clientIp` may pass. */
  allows(clientIp: string): boolean {
    const address = parseClientAddress(clientIp);
    if (address === undefined) return false;
    if (this.#deny.has(address)) return false;
    return this.#allow === undefined || this.#allow.has(address);
  }

  run(request: PolicyRequest): boolean {
    if (this.allows(request.clientIp)) return true;
    request.reject('forbidden');
    return false;
  }
}

/** The step, or undefined when both lists are empty (nothing to check). */
export function buildClientCidrs(config: ClientCidrsConfig): ClientCidrsStep | undefined {
  return config.allow.length === 0 && config.deny.length === 0 ? undefined : new ClientCidrsStep(config);
}
