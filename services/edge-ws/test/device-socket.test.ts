import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
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

describe('DeviceSocket: the receiver keeps one fragment list', () => {
  type Received = { data: Buffer; isBinary: boolean; fragments: unknown[] };

  /** A real ws server of DeviceSockets and a ws client; `received` fills as the server reads. */
  async function connectedPair() {
    const wss = new WebSocketServer({ port: 0, perMessageDeflate: false, WebSocket: DeviceSocket });
    await once(wss, 'listening');
    const received: Received[] = [];
    const arrived = new Set<() => void>();
    wss.on('connection', (socket: DeviceSocket) => {
      const receiver = (socket as unknown as { _receiver: { _fragments: unknown[] } })._receiver;
      // The channel is the socket's only listener: a stand-in records what it is handed.
      socket.channel = {
        receive(data: Buffer, isBinary: boolean) {
          received.push({ data: Buffer.from(data), isBinary, fragments: receiver._fragments });
          for (const wake of arrived) wake();
        },
        touch() {},
        socketClosed() {},
        socketFailed() {},
      } as unknown as DeviceSocket['channel'];
    });
    const { port } = wss.address() as AddressInfo;
    const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    await once(client, 'open');
    const messages = (count: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (received.length < count) return;
          arrived.delete(check);
          resolve();
        };
        arrived.add(check);
        check();
      });
    const close = async () => {
      client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    };
    return { client, received, messages, close };
  }

  it('delivers whole and fragmented messages, each through the same emptied list', async () => {
    const { client, received, messages, close } = await connectedPair();
    try {
      client.send(Buffer.from('one'));
      await messages(1);
      client.send(Buffer.from('tw'), { binary: true, fin: false });
      client.send(Buffer.from('o'), { binary: true, fin: true });
      await messages(2);
      client.send('three');
      await messages(3);
      expect(received.map((m) => [m.data.toString(), m.isBinary])).toEqual([
        ['one', true],
        ['two', true],
        ['three', false],
      ]);
      // One list for the socket's life, empty whenever the channel runs: a new list per message
      // would be promoted on an idle connection and keep the next frame alive (see #fragments).
      const [first] = received;
      for (const message of received) {
        expect(message.fragments).toBe(first?.fragments);
        expect(message.fragments).toEqual([]);
      }
    } finally {
      await close();
    }
  });
});
