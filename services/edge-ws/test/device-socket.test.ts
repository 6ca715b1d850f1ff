import { describe, expect, it } from 'vitest';
import { DeviceSocket } from '../src/channel.ts';

/** How ws's WebSocketServer builds a server-side socket (ws 8.x: address null, then its options). */
function serverSocket(): DeviceSocket {
  const Ctor = DeviceSocket as unknown as new (
    address: null,
    protocols: undefined,
    options: Record<string, unknown>,
  ) => DeviceSocket;
  return new Ctor(null, undefined, { autoPong: true, maxPendingAutoPongs: 60, closeTimeout: 5_000 });
}

type Internals = {
  _events: unknown;
  _extensions: object;
  _pendingAutoPongs: number;
  _autoPongComplete: () => void;
};

describe('DeviceSocket: what an idle socket does not hold', () => {
  it('keeps no listener table, extension object or auto-pong closure of its own', () => {
    const [a, b] = [serverSocket(), serverSocket()];
    const ia = a as unknown as Internals;
    const ib = b as unknown as Internals;
    expect(ia._events).toBeUndefined();
    expect(ia._extensions).toBe(ib._extensions);
    expect(Object.keys(ia._extensions)).toEqual([]);
    expect(Object.hasOwn(a, '_autoPongComplete')).toBe(false);
  });

  it('still counts written auto-pongs off, and takes listeners one socket at a time', () => {
    const [a, b] = [serverSocket(), serverSocket()];
    const ia = a as unknown as Internals;
    ia._pendingAutoPongs = 2;
    ia._autoPongComplete();
    expect(ia._pendingAutoPongs).toBe(1);
    const heard: string[] = [];
    a.on('open', () => heard.push('a'));
    a.emit('open');
    b.emit('open');
    expect(heard).toEqual(['a']);
    expect(b.listenerCount('open')).toBe(0);
  });
});
