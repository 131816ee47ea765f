/**
 * Types of Node's libuv TCP bindings (`tcp_wrap`, `stream_wrap`, reached by the deprecated
 * `process.binding`, not in @types/node) as the bench children built on them use them
 * (handle-splice-server.ts, wasm-proto-server.ts). Types only: a child imports them with
 * `import type`, which transpiling erases, so it still runs as one self-contained file.
 */

/** A TCP handle; `Self` is the child's own handle type (the fields it adds). */
export interface TcpHandle<Self> {
  onread: (this: Self) => void;
  onconnection: (status: number, client?: Self) => void;
  readStart(): number;
  readStop(): number;
  useUserBuffer(buffer: Uint8Array): void;
  writeBuffer(req: object, data: Uint8Array): number;
  setNoDelay(on: boolean): number;
  bind(address: string, port: number): number;
  listen(backlog: number): number;
  getsockname(out: { port?: number }): number;
  getpeername(out: { address?: string }): number;
  connect(req: object, address: string, port: number): number;
  close(callback?: () => void): void;
}

export interface TcpWrapBinding<Handle> {
  TCP: new (type: number) => Handle;
  TCPConnectWrap: new () => { oncomplete: (status: number) => void };
  constants: { SOCKET: number; SERVER: number };
}

/** `WriteReq`: the child's write request (Node reads `handle` and `oncomplete`; the rest is the child's). */
export interface StreamWrapBinding<WriteReq> {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}
