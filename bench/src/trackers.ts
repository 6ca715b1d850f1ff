import net from 'node:net';
import { type AvlRecord, crc16, encodeAvlPacket, encodeLogin, type IoValue } from '@fleetwire/teltonika';

/** IO elements a typical FMB tracker sends with every record: ignition, movement, GSM, voltages… */
const IO: readonly IoValue[] = [
  { id: 239, width: 1, value: 1 },
  { id: 240, width: 1, value: 1 },
  { id: 21, width: 1, value: 4 },
  { id: 69, width: 1, value: 1 },
  { id: 24, width: 2, value: 57 },
  { id: 66, width: 2, value: 12_840 },
  { id: 67, width: 2, value: 4_012 },
  { id: 16, width: 4, value: 1_203_455 },
];

/** The IMEI of bench tracker `i`: the 15-digit number BENCH_IMEI_BASE + i. */
export const BENCH_IMEI_BASE = 350_900_000_000_000;
export const benchImei = (i: number) => String(BENCH_IMEI_BASE + i);

export interface SentPacket {
  sentAt: number;
  /** Device time of the packet's last record: once device_state shows it, the whole packet is stored. */
  lastTs: number;
  records: number;
  measured: boolean;
}

/**
 * A lean simulated tracker for load: a raw socket that logs in, sends Codec 8E packets one at a
 * time and waits for the 4-byte record-count reply before the next, as real devices do. Lighter
 * than the testkit's TrackerClient (no promise per packet), so the load generator stays cheap.
 */
export class LoadTracker {
  readonly imei: string;
  /** Its position in the fleet: benchImei(index) is its IMEI. */
  readonly index: number;
  readonly #socket: net.Socket;
  #pendingBytes = 0;
  #lastTs = 0;
  #lat: number;
  #lon: number;
  /** The packet awaiting its reply, if any. */
  inFlight: SentPacket | undefined;
  /** Packets due while one was in flight: sent as soon as the reply comes. */
  owed = 0;
  onAck: (tracker: LoadTracker, packet: SentPacket, count: number) => void = () => {};
  onError: (tracker: LoadTracker, err: Error) => void = () => {};

  private constructor(socket: net.Socket, imei: string, index: number) {
    this.#socket = socket;
    this.imei = imei;
    this.index = index;
    this.#lat = 54.6 + (index % 100) / 1000;
    this.#lon = 25.2 + Math.floor(index / 100) / 1000;
  }

  /**
   * Replies are read with `onread` into one small buffer per socket: no Buffer, stream push and
   * 'data' event per reply, which were most of the load generator's own JavaScript per packet.
   */
  static async connect(port: number, index: number): Promise<LoadTracker> {
    const imei = benchImei(index);
    let receive: (bytes: Buffer, length: number) => void = () => {};
    const readBuffer = Buffer.allocUnsafe(256);
    const socket = net.connect({
      port,
      host: '127.0.0.1',
      onread: {
        buffer: readBuffer,
        callback: (length: number) => {
          receive(readBuffer, length);
          return true; // keep reading
        },
      },
    });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const tracker = new LoadTracker(socket, imei, index);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${imei}: no login reply`)), 30_000);
      receive = (bytes, length) => {
        clearTimeout(timer);
        if (bytes[0] === 1 && length === 1) resolve();
        else reject(new Error(`${imei}: login refused`));
      };
      socket.write(encodeLogin(imei));
    });
    receive = (bytes, length) => tracker.#onData(bytes, length);
    socket.on('error', (err) => tracker.onError(tracker, err));
    socket.on('close', () => tracker.onError(tracker, new Error('connection closed by the edge')));
    return tracker;
  }

  /** Sends one packet of `count` records; their device times end at "now" and never repeat. */
  send(count: number, measured: boolean): void {
    const now = Date.now();
    const first = Math.max(now - (count - 1), this.#lastTs + 1);
    this.#lastTs = first + count - 1;
    const frame = this.#frame(count, first);
    this.inFlight = { sentAt: performance.now(), lastTs: this.#lastTs, records: count, measured };
    this.#socket.write(frame);
  }

  #template: { count: number; bytes: Buffer; recordLength: number } | undefined;

  /**
   * A Codec 8E packet built once with encodeAvlPacket, then re-stamped in place: new record
   * timestamps and positions, new CRC. Re-using the one buffer is safe because the next packet is
   * only built once the edge has answered the previous one, i.e. after it received every byte (or,
   * when a packet went unanswered, only once the socket holds no unwritten bytes).
   * Keeps the load generator's CPU for the system under test.
   */
  #frame(count: number, firstTs: number): Buffer {
    if (this.#template?.count !== count) {
      const records: AvlRecord[] = [];
      for (let i = 0; i < count; i++) records.push(this.#record(firstTs + i));
      const bytes = Buffer.from(encodeAvlPacket(0x8e, records));
      const bodyLength = bytes.readUInt32BE(4);
      this.#template = { count, bytes, recordLength: (bodyLength - 3) / count };
    }
    // Only after a scenario gave up on an unanswered packet can bytes still wait in the socket.
    if (this.#socket.writableLength > 0) this.#template.bytes = Buffer.from(this.#template.bytes);
    const { bytes: frame, recordLength } = this.#template;
    for (let i = 0; i < count; i++) {
      const at = 10 + i * recordLength; // preamble 4, length 4, codec 1, count 1
      const ts = firstTs + i;
      // The u64 as two u32 halves: a BigInt per record cost more than the rest of the stamp.
      frame.writeUInt32BE(Math.floor(ts / 2 ** 32), at);
      frame.writeUInt32BE(ts >>> 0, at + 4);
      this.#lat += 0.00001;
      frame.writeInt32BE(Math.round(this.#lat * 1e7), at + 13); // timestamp 8, priority 1, longitude 4
    }
    const bodyLength = frame.readUInt32BE(4);
    frame.writeUInt32BE(crc16(frame.subarray(8, 8 + bodyLength)), 8 + bodyLength);
    return frame;
  }

  get lastTs(): number {
    return this.#lastTs;
  }

  /**
   * Stamps every later record at `timestamp` or after. A packet's first record is otherwise dated
   * up to `records − 1` ms before it is sent, which put a scenario's first rows before its start.
   */
  stampFrom(timestamp: number): void {
    this.#lastTs = Math.max(this.#lastTs, timestamp - 1);
  }

  #record(timestamp: number): AvlRecord {
    this.#lat += 0.00001;
    return {
      timestamp,
      priority: 0,
      latitude: this.#lat,
      longitude: this.#lon,
      altitude: 120,
      angle: 90,
      satellites: 11,
      speed: 57,
      eventIoId: 0,
      io: IO,
    };
  }

  /** `bytes` is the socket's read buffer: only its first `length` bytes are this read's. */
  #onData(bytes: Buffer, length: number): void {
    // Only 4-byte record-count replies come back (no commands in this benchmark).
    let offset = 0;
    if (this.#pendingBytes > 0) {
      offset = 4 - this.#pendingBytes;
      this.#pendingBytes = 0;
      this.#acked(-1);
    }
    while (offset + 4 <= length) {
      this.#acked(bytes.readUInt32BE(offset));
      offset += 4;
    }
    if (offset < length) this.#pendingBytes = length - offset;
  }

  #acked(count: number): void {
    const packet = this.inFlight;
    this.inFlight = undefined;
    if (packet) this.onAck(this, packet, count);
  }

  close(): void {
    this.#socket.removeAllListeners('close');
    this.#socket.destroy();
  }
}

/** Connects `n` trackers, `parallel` logins at a time (a login costs the edge a registry lookup). */
export async function connectTrackers(port: number, n: number, parallel = 50): Promise<LoadTracker[]> {
  const trackers: LoadTracker[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        const i = next++;
        trackers[i] = await LoadTracker.connect(port, i);
      }
    }),
  );
  return trackers;
}
