/** Every engine name the config accepts runs the ForwardEngine contract; refused answers also for the HTTP/2 engine. */
import { ENGINE_NAMES, type EngineName } from '../../src/config/schema.js';
import { Http2Engine } from '../../src/proxy/engines/http2.js';
import { HttpProxyEngine } from '../../src/proxy/engines/http-proxy.js';
import { UndiciEngine } from '../../src/proxy/engines/undici.js';
import { RawEngine } from '../../src/proxy/engines/raw.js';
import type { ForwardEngine } from '../../src/proxy/forwarder.js';
import { runEngineContract, runRefusedAnswerContract } from './engine.contract.js';

/** The compiler checks that every name has an engine. */
const CREATE = {
  'http-proxy': () => new HttpProxyEngine(),
  undici: () => new UndiciEngine(),
  raw: () => new RawEngine(),
} as const satisfies Record<EngineName, () => ForwardEngine>;

for (const name of ENGINE_NAMES) runEngineContract(name, CREATE[name]);

for (const name of ENGINE_NAMES) runRefusedAnswerContract(name, CREATE[name], 'http1');
runRefusedAnswerContract('http2', () => new Http2Engine(), 'h2c');
