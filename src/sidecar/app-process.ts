/**
 * `--exec` mode: the sidecar starts the app itself as a child with inherited
 * stdio, so the app's logs stay where they were, and reports how it ended.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface AppExit {
  /** Exit code to pass on: the child's code, or 128 + signal number when it was killed. */
  readonly code: number;
  readonly signal: NodeJS.Signals | null;
}

export class AppProcess {
  readonly #child: ChildProcess;
  /** Resolves when the child has exited (or could not be started: code 127). */
  readonly exited: Promise<AppExit>;

  constructor(command: string, args: readonly string[]) {
    this.#child = spawn(command, args, { stdio: 'inherit' });
    this.exited = new Promise((resolve) => {
      this.#child.once('error', () => resolve({ code: 127, signal: null }));
      this.#child.once('exit', (code, signal) =>
        resolve({ code: code ?? 128 + signalNumber(signal), signal }),
      );
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null && this.#child.pid !== undefined;
  }

  /** Sends `signal` if the child still runs. */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.#child.kill(signal);
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return signal ? (numbers[signal] ?? 1) : 1;
}
