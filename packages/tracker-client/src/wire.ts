import { type Codec12Message, type Codec14Message, decodeDataFrame } from '@fleetwire/teltonika';

/** What a server sends a tracker, one event per complete message. */
export type ServerMessage =
  | { kind: 'login-reply'; accepted: boolean }
  | { kind: 'ack'; count: number }
  | { kind: 'command'; message: Codec12Message | Codec14Message }
  | { kind: 'garbage'; error: Error };

const EMPTY = Buffer.alloc(0);

/**
 * Splits the server → tracker byte stream: the 1-byte login reply (only while one is awaited),
 * 4-byte record-count replies, and Codec 12/14 frames (which always start with four zero bytes, which
 * a record count never is). Chunks that hold whole messages are read in place, without copying.
 */
export class ServerStreamParser {
  #buffer: Buffer = EMPTY;
  #awaitingLogin = false;

  /** The next byte is the answer to a login. */
  expectLoginReply(): void {
    this.#awaitingLogin = true;
  }

  reset(): void {
    this.#buffer = EMPTY;
    this.#awaitingLogin = false;
  }

  push(chunk: Buffer, emit: (message: ServerMessage) => void): void {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    for (;;) {
      const message = this.#next();
      if (!message) break;
      emit(message);
    }
    if (this.#buffer.length === 0) this.#buffer = EMPTY;
  }

  #next(): ServerMessage | undefined {
    const buffer = this.#buffer;
    if (this.#awaitingLogin) {
      if (buffer.length < 1) return undefined;
      this.#awaitingLogin = false;
      this.#buffer = buffer.subarray(1);
      return { kind: 'login-reply', accepted: buffer[0] === 1 };
    }
    if (buffer.length < 4) return undefined;
    const first = buffer.readUInt32BE(0);
    if (first !== 0) {
      this.#buffer = buffer.subarray(4);
      return { kind: 'ack', count: first };
    }
    if (buffer.length < 8) return undefined;
    const total = 8 + buffer.readUInt32BE(4) + 4;
    if (buffer.length < total) return undefined;
    this.#buffer = buffer.subarray(total);
    try {
      const decoded = decodeDataFrame(buffer.subarray(0, total));
      if (decoded.kind === 'codec12' || decoded.kind === 'codec14')
        return { kind: 'command', message: decoded };
      return { kind: 'garbage', error: new Error(`unexpected ${decoded.kind} frame from the server`) };
    } catch (err) {
      return { kind: 'garbage', error: err as Error };
    }
  }
}
