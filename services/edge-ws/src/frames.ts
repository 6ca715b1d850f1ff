import type { Duplex } from 'node:stream';

/** Frames of at most this many payload bytes are written by the edge itself (a 2- or 4-byte header). */
export const MAX_DIRECT_PAYLOAD = 0xffff;

/**
 * One unmasked, final, binary WebSocket frame (RFC 6455 §5.2) in a single buffer: what a server
 * sends. ws writes a frame as a header and a payload through a corked `writev`; for the small
 * frames an edge sends all day (pongs, acks, accepts, commands) one buffer and one plain write
 * cost markedly less.
 */
export function binaryFrame(payload: Uint8Array): Buffer {
  if (payload.length > MAX_DIRECT_PAYLOAD) throw new RangeError('payload too large for a direct frame');
  const headerLength = payload.length < 126 ? 2 : 4;
  const frame = Buffer.allocUnsafe(headerLength + payload.length);
  frame[0] = 0x82; // FIN + opcode 2 (binary)
  if (headerLength === 2) {
    frame[1] = payload.length;
  } else {
    frame[1] = 126;
    frame.writeUInt16BE(payload.length, 2);
  }
  frame.set(payload, headerLength);
  return frame;
}

/** The parts of a ws WebSocket that tell whether a frame may bypass its sender (ws 8). */
export interface WsInternals {
  _socket: Duplex | null;
  _sender: { _state: number; _queue: unknown[] } | null;
}

/** ws's sender state when it is not deflating nor reading a Blob: it writes frames synchronously. */
const SENDER_IDLE = 0;

/**
 * The socket to write a frame to directly, or undefined when ws must send it: ws's sender writes
 * synchronously while idle and nothing is queued (the server disables compression), so a frame
 * written to the socket then keeps its place among the frames ws writes.
 */
export function directSocketOf(ws: WsInternals): Duplex | undefined {
  const sender = ws._sender;
  if (!ws._socket || !sender || sender._state !== SENDER_IDLE || sender._queue.length > 0) return undefined;
  return ws._socket;
}
