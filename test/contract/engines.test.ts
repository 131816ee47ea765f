/** Every engine name the config accepts runs the ForwardEngine contract. */
import { ENGINE_NAMES, type EngineName } from '../../src/config/schema.js';
import { HttpProxyEngine } from '../../src/proxy/engines/http-proxy.js';
import { UndiciEngine } from '../../src/proxy/engines/undici.js';
import type { ForwardEngine } from '../../src/proxy/forwarder.js';
import { runEngineContract } from './engine.contract.js';

/** The compiler checks that every name has an engine. */
const CREATE = {
  'http-proxy': () => new HttpProxyEngine(),
  undici: () => new UndiciEngine(),
} as const satisfies Record<EngineName, () => ForwardEngine>;

for (const name of ENGINE_NAMES) runEngineContract(name, CREATE[name]);
