import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { LogTooLargeError } from './errors.ts';

export type LogSource = Readable | AsyncIterable<Uint8Array>;

const toBytes = (chunk: unknown): Uint8Array =>
  chunk instanceof Uint8Array ? chunk : Buffer.from(String(chunk), 'utf8');

/**
 * The upload as a web ReadableStream (what the object store client reads), counting and hashing
 * every chunk as it passes. It pulls from the source only when the object store asks for more, so
 * at most a chunk or two are in memory. Past `maxBytes` it errors with LogTooLargeError instead of
 * passing the chunk on, and closes the source (`return()`: a Node Readable is destroyed).
 */
export class MeteredSource {
  readonly readable: ReadableStream<Uint8Array>;
  #size = 0;
  #tooLarge = false;
  readonly #hash = createHash('sha256');
  #digest: string | undefined;

  constructor(source: LogSource, maxBytes: number) {
    const iterator = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    const close = async () => {
      await iterator.return?.();
    };
    this.readable = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          const { done, value } = await iterator.next();
          if (done) return controller.close();
          const chunk = toBytes(value);
          if (this.#size + chunk.length > maxBytes) {
            this.#tooLarge = true;
            await close().catch(() => {});
            return controller.error(new LogTooLargeError(maxBytes));
          }
          this.#size += chunk.length;
          this.#hash.update(chunk);
          controller.enqueue(chunk);
        },
        cancel: close,
      },
      // Pull only on demand: nothing is read ahead of what the object store is writing.
      { highWaterMark: 0 },
    );
  }

  /** Bytes passed on so far (all of them once the stream closed). */
  get size(): number {
    return this.#size;
  }

  /** True once the source went past the limit, whatever error the writer reported afterwards. */
  get tooLarge(): boolean {
    return this.#tooLarge;
  }

  /** Hex SHA-256 of everything passed on; call it after the stream closed. */
  sha256(): string {
    this.#digest ??= this.#hash.digest('hex');
    return this.#digest;
  }
}
