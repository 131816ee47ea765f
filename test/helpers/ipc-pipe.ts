/**
 * A real Node IPC channel in one direction, for wiring both ends of a cluster protocol in
 * one test process: what goes in is sent to a forked child (test/fixtures/ipc-echo.mjs)
 * and comes back out. Messages are JSON-serialized and delivered asynchronously, in order,
 * exactly as between a cluster primary and its workers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';

const ECHO = path.resolve(import.meta.dirname, '../fixtures/ipc-echo.mjs');

export class IpcPipe {
  readonly #child: ChildProcess;

  private constructor(child: ChildProcess) {
    this.#child = child;
  }

  static async open(): Promise<IpcPipe> {
    const child = fork(ECHO, [], { serialization: 'json', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    await once(child, 'spawn');
    return new IpcPipe(child);
  }

  send(message: unknown): void {
    if (this.#child.connected) this.#child.send(message as object);
  }

  /** Listens for what comes out; returns the function that stops listening. */
  onMessage(listener: (message: unknown) => void): () => void {
    this.#child.on('message', listener);
    return () => this.#child.off('message', listener);
  }

  /** Ends the child (it exits once its channel closes). */
  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = once(this.#child, 'exit');
    this.#child.disconnect();
    const kill = setTimeout(() => this.#child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(kill);
  }
}
