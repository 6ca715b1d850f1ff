/**
 * What the lean gateway does when the edge sends what edge-ws itself never sends in the bench:
 * WebSocket pings, a close frame, a refused session start. The peer is a plain TCP server speaking
 * HTTP/1.1 and RFC 6455 by hand. Part of `./fleetwire test`.
 */
import { once } from 'node:events';
import net from 'node:net';
import { encodeProtoMsg, MSG_TYPE, PROTO } from '@fleetwire/protocol';
import { CredentialStore, FleetStats, fleetIdentity, OPEN_FRAME, PING_FRAME } from '@fleetwire/simulator';
import { afterEach, describe, expect, it } from 'vitest';
import {
  acceptKeyOf,
  closePayload,
  LeanGateway,
  type LeanObserver,
  OPCODE,
  RandomPool,
  SessionClient,
} from '../src/lean-gateway.ts';

interface ClientFrame {
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Complete client frames at the start of `buf`, and what is left. */
function clientFrames(buf: Buffer): { frames: ClientFrame[]; rest: Buffer } {
  const frames: ClientFrame[] = [];
  for (;;) {
    if (buf.length < 2) break;
    const n = buf[1]! & 0x7f;
    if (n >= 126) throw new Error('the test peer reads short frames only');
    const masked = (buf[1]! & 0x80) !== 0;
    const offset = 2 + (masked ? 4 : 0);
    if (buf.length < offset + n) break;
    const payload = Buffer.from(buf.subarray(offset, offset + n));
    if (masked) for (let i = 0; i < n; i++) payload[i]! ^= buf[2 + (i & 3)]!;
    frames.push({ opcode: buf[0]! & 0x0f, masked, payload });
    buf = buf.subarray(offset + n);
  }
  return { frames, rest: buf };
}

const serverFrame = (opcode: number, payload: Uint8Array) =>
  Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]);

const ACCEPT = encodeProtoMsg({
  hdr: { proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.ACCEPT, props: { epoch: 7 } },
});

/**
 * A peer that answers session starts with `sessionStatus` (pipelined requests in order) and
 * upgrades with a valid 101; every WebSocket frame it reads goes to `frames`, and `onFrame` may
 * answer on the socket.
 */
class Peer {
  readonly server: net.Server;
  readonly sessionBodies: unknown[] = [];
  readonly frames: ClientFrame[] = [];
  readonly sockets = new Set<net.Socket>();
  sessionStatus = 201;
  onFrame: (frame: ClientFrame, socket: net.Socket) => void = () => {};

  constructor() {
    this.server = net.createServer((socket) => this.#serve(socket));
  }

  async listen(): Promise<URL> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return new URL(`http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`);
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }

  #serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    let buf: Buffer = Buffer.alloc(0);
    let upgraded = false;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const read = this.#http(socket, buf);
        buf = read.rest;
        upgraded = read.upgraded;
      }
      if (!upgraded) return;
      const { frames, rest } = clientFrames(buf);
      buf = rest;
      for (const f of frames) {
        this.frames.push(f);
        this.onFrame(f, socket);
      }
    });
  }

  #http(socket: net.Socket, buf: Buffer): { rest: Buffer; upgraded: boolean } {
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return { rest: buf, upgraded: false };
      const head = buf.subarray(0, end).toString();
      if (head.startsWith('GET ')) {
        const key = /\r\nSec-WebSocket-Key: (.+)/i.exec(head)![1]!;
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${acceptKeyOf(key)}\r\nSec-WebSocket-Protocol: protomsg/msgpack\r\n\r\n`,
        );
        return { rest: buf.subarray(end + 4), upgraded: true };
      }
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)![1]);
      if (buf.length < end + 4 + length) return { rest: buf, upgraded: false };
      this.sessionBodies.push(JSON.parse(buf.subarray(end + 4, end + 4 + length).toString()));
      buf = buf.subarray(end + 4 + length);
      const body =
        this.sessionStatus === 201
          ? JSON.stringify({
              token: 'tok',
              heartbeatMs: 60_000,
              connectPath: '/device/v1/connect',
              credential: 'new',
            })
          : '{"error":"unknown_device","message":"who are you"}';
      socket.write(
        `HTTP/1.1 ${this.sessionStatus} X\r\ncontent-type: application/json\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }
  }
}

let peer: Peer | undefined;
afterEach(() => peer?.close());

async function gatewayAgainst(p: Peer) {
  const url = await p.listen();
  const stats = new FleetStats();
  const events: string[] = [];
  const observer: LeanObserver = {
    accepted: () => events.push('accepted'),
    connectFailed: (_g, reason) => events.push(`failed ${reason}`),
  };
  const credentials = CredentialStore.open(undefined);
  const gateway = new LeanGateway('gw-1', fleetIdentity('t', 1), undefined, {
    url,
    sessions: new SessionClient(url, 1, [], 5_000),
    credentials,
    stats,
    random: new RandomPool(),
    observer,
    provisioningKey: 'fleet-key',
    heartbeatMs: 5_000,
    connectTimeoutMs: 5_000,
    backoff: { baseMs: 60_000, capMs: 60_000 },
  });
  return { gateway, stats, events, credentials };
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a lean gateway', () => {
  it('provisions itself, keeps the credential, answers pings and echoes the close code', async () => {
    peer = new Peer();
    const p = peer;
    p.onFrame = (f, socket) => {
      if (f.opcode === OPCODE.BINARY && f.payload.equals(Buffer.from(OPEN_FRAME))) {
        socket.write(
          Buffer.concat([serverFrame(OPCODE.BINARY, ACCEPT), serverFrame(OPCODE.PING, Buffer.from('abc'))]),
        );
      } else if (f.opcode === OPCODE.PONG) {
        socket.write(serverFrame(OPCODE.CLOSE, closePayload(4001, 'go away')));
      } else if (f.opcode === OPCODE.CLOSE) {
        socket.end();
      }
    };
    const { gateway, stats, events, credentials } = await gatewayAgainst(p);
    gateway.start();
    await until(() => p.frames.length === 3);
    expect(p.sessionBodies).toEqual([
      {
        deviceId: 'gw-1',
        provisioningKey: 'fleet-key',
        identity: expect.objectContaining({ serial: expect.any(String) }),
      },
    ]);
    expect(credentials.get('gw-1')).toBe('new');
    expect(p.frames.every((f) => f.masked)).toBe(true);
    expect(p.frames.map((f) => [f.opcode, f.payload.toString('hex')])).toEqual([
      [OPCODE.BINARY, Buffer.from(OPEN_FRAME).toString('hex')],
      [OPCODE.PONG, Buffer.from('abc').toString('hex')],
      [OPCODE.CLOSE, closePayload(4001).toString('hex')],
    ]);
    expect(events).toEqual(['accepted']);
    await until(() => stats.wsConnected === 0);
    await gateway.stop();
  });

  it('pings with the simulator frame, then says close when stopped', async () => {
    peer = new Peer();
    const p = peer;
    p.onFrame = (f, socket) => {
      if (f.opcode === OPCODE.BINARY && f.payload.equals(Buffer.from(OPEN_FRAME))) {
        // A 200 ms heartbeat: the first ping comes within it.
        const accept = encodeProtoMsg({
          hdr: { proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.ACCEPT, props: { heartbeatMs: 200 } },
        });
        socket.write(serverFrame(OPCODE.BINARY, accept));
      }
    };
    const { gateway, stats } = await gatewayAgainst(p);
    gateway.start();
    await until(() => p.frames.filter((f) => f.payload.equals(Buffer.from(PING_FRAME))).length >= 2);
    expect(stats.wsConnected).toBe(1);
    await gateway.stop();
    await until(() => p.frames.some((f) => f.opcode === OPCODE.CLOSE));
    expect(p.frames.at(-1)!.payload.readUInt16BE(0)).toBe(1000);
  });

  it('counts a refused session start and does not open a WebSocket', async () => {
    peer = new Peer();
    peer.sessionStatus = 404;
    const { gateway, stats, events } = await gatewayAgainst(peer);
    gateway.start();
    await until(() => events.length === 1);
    expect(events[0]).toBe('failed session start: 404 unknown_device: who are you');
    expect(stats.sessionsRefused).toBe(1);
    expect(peer.frames).toEqual([]);
    await gateway.stop();
  });
});
