import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { binaryFrame, directSocketOf, MAX_DIRECT_PAYLOAD, type WsInternals } from '../src/frames.ts';

/** ws's own frame parser, as a ws client uses it (the typings do not declare it). */
const { Receiver } = createRequire(import.meta.url)('ws') as {
  Receiver: new (opts: { isServer: boolean; binaryType: string; maxPayload: number }) => Writable;
};

function parsedByWs(frame: Buffer): Promise<{ data: Buffer; isBinary: boolean }> {
  const receiver = new Receiver({ isServer: false, binaryType: 'nodebuffer', maxPayload: 0 });
  return new Promise((resolve, reject) => {
    receiver.on('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary }));
    receiver.on('error', reject);
    receiver.write(frame);
  });
}

describe('binaryFrame: the frames the edge writes itself', () => {
  it('is one final binary frame that ws reads back, around each header-size boundary', async () => {
    for (const length of [0, 1, 125, 126, 127, 300, MAX_DIRECT_PAYLOAD]) {
      const payload = Buffer.alloc(length, length % 251);
      const frame = binaryFrame(payload);
      expect(frame.length, `length ${length}`).toBe(payload.length + (length < 126 ? 2 : 4));
      expect(await parsedByWs(frame), `length ${length}`).toEqual({ data: payload, isBinary: true });
    }
  });

  it('refuses payloads that need the 8-byte length', () => {
    expect(() => binaryFrame(new Uint8Array(MAX_DIRECT_PAYLOAD + 1))).toThrow(RangeError);
  });

  it('leaves the frame to ws while its sender is busy or has frames queued', () => {
    const socket = {} as WsInternals['_socket'];
    const idle = { _socket: socket, _sender: { _state: 0, _queue: [] } };
    expect(directSocketOf(idle)).toBe(socket);
    expect(directSocketOf({ ...idle, _sender: { _state: 1, _queue: [] } })).toBeUndefined();
    expect(directSocketOf({ ...idle, _sender: { _state: 0, _queue: [{}] } })).toBeUndefined();
    expect(directSocketOf({ _socket: null, _sender: null })).toBeUndefined();
  });
});
