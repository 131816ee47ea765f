/**
 * Just enough of RFC 6455 framing for a proxy that relays bytes: find frame
 * boundaries in the upstream→client stream (so a close frame of our own is
 * never spliced into the middle of a relayed frame) and build a close frame.
 * Payloads are never unmasked or copied; the scanner reads only frame headers.
 */
import { randomBytes } from 'node:crypto';

/** Tracks where frames start and end in a byte stream, across chunk borders. */
export class FrameScanner {
  /** Header bytes of the current frame seen so far (0 = between frames or in payload). */
  #headerLen = 0;
  /** Full header length of the current frame, known once its first 2 bytes arrived. */
  #headerTotal = 2;
  readonly #header = Buffer.alloc(14);
  #payloadLeft = 0;

  /** true when the bytes fed so far end exactly at a frame boundary. */
  get atBoundary(): boolean {
    return this.#headerLen === 0 && this.#payloadLeft === 0;
  }

  /**
   * Advances over `chunk` and returns how many bytes were consumed: all of them,
   * or with `stopAtBoundary`, only up to the first frame boundary (0 when the
   * stream is at a boundary already).
   */
  feed(chunk: Buffer, stopAtBoundary = false): number {
    let i = 0;
    const length = chunk.length;
    while (i < length) {
      if (stopAtBoundary && this.atBoundary) return i;
      if (this.#payloadLeft > 0) {
        const n = Math.min(this.#payloadLeft, length - i);
        this.#payloadLeft -= n;
        i += n;
        continue;
      }
      this.#header[this.#headerLen++] = chunk[i++]!;
      if (this.#headerLen === 2) {
        const len7 = this.#header[1]! & 0x7f;
        const extended = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
        const mask = this.#header[1]! & 0x80 ? 4 : 0;
        this.#headerTotal = 2 + extended + mask;
      }
      if (this.#headerLen >= 2 && this.#headerLen === this.#headerTotal) this.#endHeader();
    }
    return i;
  }

  #endHeader(): void {
    const h = this.#header;
    const len7 = h[1]! & 0x7f;
    this.#payloadLeft = len7 === 126 ? h.readUInt16BE(2) : len7 === 127 ? h.readUInt32BE(2) * 2 ** 32 + h.readUInt32BE(6) : len7;
    this.#headerLen = 0;
    this.#headerTotal = 2;
  }
}

/** 1001: the endpoint is going away (server shutdown or instance drained). */
export const CLOSE_GOING_AWAY = 1001;

/**
 * A close frame with `code` and a short UTF-8 `reason` (≤ 123 bytes). Frames to
 * a server must be masked (RFC 6455 §5.3); frames to a client must not be.
 */
export function closeFrame(code: number, reason: string, masked: boolean): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 123);
  const payload = Buffer.alloc(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  const frame = Buffer.alloc(2 + (masked ? 4 : 0) + payload.length);
  frame[0] = 0x88; // FIN + opcode 8 (close)
  frame[1] = (masked ? 0x80 : 0) | payload.length;
  if (!masked) {
    payload.copy(frame, 2);
    return frame;
  }
  const key = randomBytes(4);
  key.copy(frame, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ key[i % 4]!;
  return frame;
}
