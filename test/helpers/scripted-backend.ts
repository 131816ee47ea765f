/**
 * A backend whose answer is a function of the request, which counts what it sees:
 * requests received, requests in flight now and the most ever in flight at once,
 * and the arrival time of each request (for backoff checks). HTTP/1.1 on
 * 127.0.0.1 port 0.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedBackend {
  readonly port: number;
  readonly requests: number;
  readonly inflight: number;
  readonly maxInflight: number;
  /** performance-independent arrival times (Date.now()) of every request. */
  readonly arrivals: number[];
  close(): Promise<void>;
}

/** `answer` may answer at once or later; the request counts in flight until its response finished or closed. */
export async function startScripted(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<ScriptedBackend> {
  const state = { requests: 0, inflight: 0, maxInflight: 0, arrivals: [] as number[] };
  const server = http.createServer((req, res) => {
    state.requests++;
    state.arrivals.push(Date.now());
    state.inflight++;
    state.maxInflight = Math.max(state.maxInflight, state.inflight);
    res.once('close', () => state.inflight--);
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get requests() {
      return state.requests;
    },
    get inflight() {
      return state.inflight;
    },
    get maxInflight() {
      return state.maxInflight;
    },
    arrivals: state.arrivals,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers `status` with a small JSON body naming the backend, after `delayMs` (reading the request body first). */
export function answerWith(name: string, status: number, delayMs = 0): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    req.resume();
    req.once('end', () => {
      const send = (): void => {
        if (res.destroyed) return;
        res.writeHead(status, { 'content-type': 'application/json', 'x-backend': name });
        res.end(JSON.stringify({ backend: name, status }));
      };
      if (delayMs > 0) setTimeout(send, delayMs);
      else send();
    });
  };
}
