/**
 * A raw HTTP/1.1 client connection for tests: sends exact bytes and parses every answer with
 * Node's llhttp (src/net/llhttp.ts), in order; interim 1xx answers are skipped.
 */
import net from 'node:net';
import { HTTPParser, HeadParts } from '../../src/net/llhttp.js';
import { waitFor } from './wait.js';

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A client connection that parses every answer the server sends, in order. */
export class Client {
  readonly socket: net.Socket;
  readonly answers: Answer[] = [];
  /** Every byte received, as latin1. */
  received = '';
  closed = false;
  readonly #parser = new HTTPParser();
  readonly #parts = new HeadParts();
  #current: Answer | undefined;
  readonly #methods: string[] = [];

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
      // Completes an answer delimited by the close (to HTTP/1.0).
      this.#parser.finish();
    });
    this.#parser.initialize(HTTPParser.RESPONSE, {}, 64 * 1024, HTTPParser.kLenientNone);
    this.#parser[HTTPParser.kOnHeaders] = (fields: string[]) => this.#parts.add(fields);
    this.#parser[HTTPParser.kOnHeadersComplete] = (_a: number, _b: number, raw: string[] | undefined, _m: number, _u: string, status: number) => {
      const fields = this.#parts.take(raw);
      const headers: Record<string, string> = {};
      for (let i = 0; i < fields.length; i += 2) headers[fields[i]!.toLowerCase()] = fields[i + 1]!;
      this.#current = { status, headers, body: '' };
      // An interim answer (100 Continue) is not the request's answer.
      if (status < 200) return 1;
      // The answer to HEAD has no body whatever it says.
      return this.#methods.shift() === 'HEAD' ? 1 : 0;
    };
    this.#parser[HTTPParser.kOnBody] = (chunk: Buffer) => (this.#current!.body += chunk.toString('latin1'));
    this.#parser[HTTPParser.kOnMessageComplete] = () => {
      if (this.#current!.status >= 200) this.answers.push(this.#current!);
      this.#current = undefined;
    };
    this.socket.on('data', (data: Buffer) => {
      this.received += data.toString('latin1');
      const result = this.#parser.execute(data);
      if (result instanceof Error) throw result;
    });
  }

  /** Sends raw bytes; `methods` are the methods of the requests in them, in order (HEAD answers have no body). */
  send(bytes: string | Buffer, ...methods: string[]): void {
    this.#methods.push(...(methods.length > 0 ? methods : ['GET']));
    this.socket.write(bytes);
  }

  async answer(n: number): Promise<Answer> {
    return waitFor(`answer ${n}`, () => this.answers[n - 1] ?? undefined);
  }

  async closing(): Promise<void> {
    await waitFor('the proxy to close the connection', () => this.closed);
  }

  close(): void {
    this.socket.destroy();
  }
}
