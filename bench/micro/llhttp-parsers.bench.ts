/**
 * The same llhttp, reached two ways, on the heads a proxied request parses (its request head,
 * the upstream's response head and 100 B body): Node's own binding (`_http_common`'s HTTPParser,
 * which the raw engine and listener use), which hands JavaScript every header name and value as
 * a new string, against undici's WebAssembly build with callbacks that only record each field's
 * offset and length (what a proxy editing heads as bytes would need). Issue 21: how much of a
 * request's parse cost is llhttp and how much is making strings of its fields.
 * Run: `npx tsx bench/micro/llhttp-parsers.bench.ts`. Prints ns per message, interleaved rounds.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
interface NodeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  [key: number]: unknown;
}
const { HTTPParser } = require('_http_common') as {
  HTTPParser: { new (): NodeParser; REQUEST: number; RESPONSE: number; kOnHeadersComplete: number; kOnBody: number; kOnMessageComplete: number };
};

const REQUEST = Buffer.from(
  'GET /api/orders/12345?expand=items HTTP/1.1\r\nHost: orders.example\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\n' +
    'Accept-Encoding: gzip, br\r\nX-Request-Id: 4f7c2a9e-1b2c-4d5e-8f90-0123456789ab\r\nConnection: keep-alive\r\n\r\n',
);
const RESPONSE = Buffer.from(
  'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\ndate: Mon, 07 Dec 2026 14:00:00 GMT\r\n' +
    `connection: keep-alive\r\nkeep-alive: timeout=5\r\nx-powered-by: bench\r\n\r\n${'a'.repeat(100)}`,
);
const MESSAGES = 200_000;
const ROUNDS = 5;

/** Node's binding, kept across messages as a keep-alive connection keeps it. */
function nodeBinding(type: number, message: Buffer): () => number {
  const parser = new HTTPParser();
  let fields = 0;
  parser.initialize(type, {}, 16 * 1024, 0);
  parser[HTTPParser.kOnHeadersComplete] = (_major: number, _minor: number, headers: string[]) => {
    fields += headers.length;
  };
  parser[HTTPParser.kOnBody] = () => {};
  parser[HTTPParser.kOnMessageComplete] = () => {};
  return () => {
    const result = parser.execute(message);
    if (result instanceof Error) throw result;
    return fields;
  };
}

/** The part of WebAssembly's API used here (not in this project's TypeScript libs). */
const { Instance, Module } = (globalThis as unknown as {
  WebAssembly: { Module: new (bytes: Buffer) => object; Instance: new (module: object, imports: object) => { exports: unknown } };
}).WebAssembly;

interface LlhttpExports {
  memory: { buffer: ArrayBuffer };
  malloc(size: number): number;
  llhttp_alloc(type: number): number;
  llhttp_execute(parser: number, data: number, length: number): number;
}

/** undici's WebAssembly llhttp; callbacks record offsets only. The message is copied into its memory first, as a reader would. */
function wasmOffsets(type: 'request' | 'response', message: Buffer): () => number {
  let wasmSource: Buffer;
  try {
    wasmSource = require('undici/lib/llhttp/llhttp_simd-wasm.js') as Buffer;
  } catch {
    wasmSource = require('undici/lib/llhttp/llhttp-wasm.js') as Buffer;
  }
  const offsets = new Int32Array(512);
  let at = 0;
  let fields = 0;
  const record = (_parser: number, start: number, length: number): number => {
    offsets[at++] = start;
    offsets[at++] = length;
    return 0;
  };
  const none = (): number => 0;
  const instance = new Instance(new Module(wasmSource), {
    env: {
      wasm_on_url: record,
      wasm_on_status: none,
      wasm_on_message_begin: none,
      wasm_on_header_field: record,
      wasm_on_header_value: record,
      wasm_on_headers_complete: () => {
        fields += at;
        at = 0;
        return 0;
      },
      wasm_on_body: none,
      wasm_on_message_complete: none,
    },
  });
  const llhttp = instance.exports as unknown as LlhttpExports;
  // llhttp's own constants: TYPE.REQUEST = 1, TYPE.RESPONSE = 2.
  const parser = llhttp.llhttp_alloc(type === 'request' ? 1 : 2);
  const input = llhttp.malloc(64 * 1024);
  return () => {
    new Uint8Array(llhttp.memory.buffer, input, message.length).set(message);
    const error = llhttp.llhttp_execute(parser, input, message.length);
    if (error !== 0) throw new Error(`llhttp error ${error}`);
    return fields;
  };
}

const cases: [string, () => number][] = [
  ['request head, Node binding (strings)', nodeBinding(HTTPParser.REQUEST, REQUEST)],
  ['request head, wasm llhttp (offsets)', wasmOffsets('request', REQUEST)],
  ['response + 100 B, Node binding (strings)', nodeBinding(HTTPParser.RESPONSE, RESPONSE)],
  ['response + 100 B, wasm llhttp (offsets)', wasmOffsets('response', RESPONSE)],
];
const results = new Map<string, number[]>(cases.map(([name]) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, parse] of cases) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < MESSAGES; i++) parse();
    results.get(name)!.push(Number(process.hrtime.bigint() - start) / MESSAGES);
  }
}
console.log(`| message, parser | ns/message (median of ${ROUNDS} interleaved rounds) | range |`);
console.log('|---|---:|---:|');
for (const [name, times] of results) {
  const sorted = [...times].sort((a, b) => a - b);
  console.log(`| ${name} | ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} | ${sorted[0]!.toFixed(0)}–${sorted.at(-1)!.toFixed(0)} |`);
}
