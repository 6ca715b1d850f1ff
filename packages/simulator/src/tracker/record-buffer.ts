import { type AvlRecord, CodecId, encodeAvlBody, wrapDataFrame } from '@fleetwire/teltonika';

/** A packet in flight: the exact bytes go out again on a resend, so the server can recognise them. */
export interface OutgoingPacket {
  readonly bytes: Uint8Array;
  readonly records: number;
}

/** Codec 8 Extended counts records in one byte. */
const MAX_RECORDS_PER_PACKET = 255;

/**
 * The records a tracker has taken but not yet handed to the server, kept encoded (about 80 bytes
 * each rather than a few hundred as objects) so thousands of offline devices stay cheap. When full,
 * the oldest records go, as on a tracker whose flash is full.
 */
export class RecordBuffer {
  readonly #capacity: number;
  #records: Uint8Array[] = [];
  #head = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#records.length - this.#head;
  }

  /** Adds a record; returns how many old ones were dropped to make room. */
  push(record: AvlRecord): number {
    // encodeAvlBody gives codec | n | record | n: the record alone is what a multi-record packet repeats.
    const body = encodeAvlBody(CodecId.CODEC_8E, [record]);
    this.#records.push(body.slice(2, body.length - 1));
    let dropped = 0;
    while (this.size > this.#capacity) {
      this.#head++;
      dropped++;
    }
    this.#compact();
    return dropped;
  }

  /** Takes up to `max` of the oldest records as one Codec 8E packet, or undefined when empty. */
  takePacket(max: number): OutgoingPacket | undefined {
    const count = Math.min(this.size, max, MAX_RECORDS_PER_PACKET);
    if (count === 0) return undefined;
    const taken = this.#records.slice(this.#head, this.#head + count);
    this.#head += count;
    this.#compact();
    let length = 3;
    for (const r of taken) length += r.length;
    const body = new Uint8Array(length);
    body[0] = CodecId.CODEC_8E;
    body[1] = count;
    let offset = 2;
    for (const r of taken) {
      body.set(r, offset);
      offset += r.length;
    }
    body[offset] = count;
    return { bytes: wrapDataFrame(body), records: count };
  }

  /** Dropping consumed entries in batches keeps push and take O(1) amortised. */
  #compact(): void {
    if (this.#head > 64 && this.#head * 2 > this.#records.length) {
      this.#records = this.#records.slice(this.#head);
      this.#head = 0;
    }
  }
}
