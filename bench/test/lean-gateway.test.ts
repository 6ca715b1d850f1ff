/** The lean load client's wire pieces, byte for byte, over every split of their input. */
import { createHash } from 'node:crypto';
import { encodeDeviceMessage, MSG_TYPE, PROTO } from '@fleetwire/protocol';
import { describe, expect, it } from 'vitest';
import {
  acceptKeyOf,
  clientFrame,
  closePayload,
  FrameParser,
  HttpResponseParser,
  OPCODE,
  sessionOf,
  sessionRequestBytes,
  upgradeProblem,
  upgradeRequest,
  type WsMessage,
} from '../src/lean-gateway.ts';

/** Every way of cutting `bytes` into two reads, and one byte per read. */
function splits(bytes: Buffer): Buffer[][] {
  const out: Buffer[][] = [[bytes]];
  for (let i = 1; i < bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)]);
  out.push([...bytes].map((b) => Buffer.from([b])));
  return out;
}

function serverFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const n = payload.length;
  const head =
    n < 126
      ? Buffer.from([(fin ? 0x80 : 0) | opcode, n])
      : n < 65_536
        ? Buffer.from([(fin ? 0x80 : 0) | opcode, 126, n >> 8, n & 0xff])
        : Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 127]), bigLength(n)]);
  return Buffer.concat([head, payload]);
}

function bigLength(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

function framesOf(parser: FrameParser, reads: Buffer[]): WsMessage[] {
  const out: WsMessage[] = [];
  for (const read of reads) {
    parser.push(read);
    for (let m = parser.next(); m; m = parser.next())
      out.push({ opcode: m.opcode, payload: Buffer.from(m.payload) });
  }
  return out;
}

/** Undoes a client frame's mask: what a server reads. */
function unmask(frame: Buffer): { fin: boolean; opcode: number; masked: boolean; payload: Buffer } {
  let n = frame[1]! & 0x7f;
  let offset = 2;
  if (n === 126) {
    n = frame.readUInt16BE(2);
    offset = 4;
  } else if (n === 127) {
    n = Number(frame.readBigUInt64BE(2));
    offset = 10;
  }
  const mask = frame.subarray(offset, offset + 4);
  const payload = Buffer.from(frame.subarray(offset + 4, offset + 4 + n));
  for (let i = 0; i < n; i++) payload[i]! ^= mask[i & 3]!;
  expect(frame.length).toBe(offset + 4 + n);
  return {
    fin: (frame[0]! & 0x80) !== 0,
    opcode: frame[0]! & 0x0f,
    masked: (frame[1]! & 0x80) !== 0,
    payload,
  };
}

describe('the frames the lean client sends', () => {
  it('are masked, final, with 7-bit, 16-bit and 64-bit lengths', () => {
    const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
    for (const n of [0, 5, 125, 126, 65_535, 65_536]) {
      const payload = Buffer.alloc(n, 0xab);
      const frame = clientFrame(OPCODE.BINARY, payload, mask);
      const read = unmask(frame);
      expect(read).toEqual({ fin: true, opcode: OPCODE.BINARY, masked: true, payload });
      if (n > 0) expect(frame.subarray(-n).equals(payload)).toBe(false);
    }
  });

  it('close frames carry the status code and reason', () => {
    const read = unmask(clientFrame(OPCODE.CLOSE, closePayload(1000, 'stopped'), Buffer.from([1, 2, 3, 4])));
    expect(read.opcode).toBe(OPCODE.CLOSE);
    expect(read.payload.readUInt16BE(0)).toBe(1000);
    expect(read.payload.subarray(2).toString()).toBe('stopped');
  });
});

describe('FrameParser', () => {
  const pong = Buffer.from(encodeDeviceMessage(PROTO.CONTROL, MSG_TYPE.CONTROL.PONG, {}));
  const big = Buffer.alloc(70_000, 7);
  const stream = Buffer.concat([
    serverFrame(OPCODE.BINARY, pong),
    serverFrame(OPCODE.PING, Buffer.from('hi')),
    serverFrame(OPCODE.BINARY, Buffer.alloc(300, 1)),
    serverFrame(OPCODE.BINARY, big),
    serverFrame(OPCODE.CLOSE, closePayload(1001, 'bye')),
  ]);
  const expected = [
    { opcode: OPCODE.BINARY, payload: pong },
    { opcode: OPCODE.PING, payload: Buffer.from('hi') },
    { opcode: OPCODE.BINARY, payload: Buffer.alloc(300, 1) },
    { opcode: OPCODE.BINARY, payload: big },
    { opcode: OPCODE.CLOSE, payload: closePayload(1001, 'bye') },
  ];

  it('reads the same messages however the bytes are split', () => {
    const small = stream.subarray(0, 2 + pong.length + 4 + 4 + 300);
    for (const reads of splits(small))
      expect(framesOf(new FrameParser(), reads)).toEqual(expected.slice(0, 3));
    for (const cut of [1, 3, 9, 2 + pong.length + 4 + 4 + 300 + 5, stream.length - 3]) {
      const reads = [stream.subarray(0, cut), stream.subarray(cut)];
      expect(framesOf(new FrameParser(), reads)).toEqual(expected);
    }
  });

  it('joins fragments, with a control frame between them', () => {
    const reads = [
      serverFrame(OPCODE.BINARY, Buffer.from('ab'), false),
      serverFrame(OPCODE.PING, Buffer.alloc(0)),
      serverFrame(OPCODE.CONTINUATION, Buffer.from('cd'), false),
      serverFrame(OPCODE.CONTINUATION, Buffer.from('e')),
    ];
    expect(framesOf(new FrameParser(), [Buffer.concat(reads)])).toEqual([
      { opcode: OPCODE.PING, payload: Buffer.alloc(0) },
      { opcode: OPCODE.BINARY, payload: Buffer.from('abcde') },
    ]);
  });

  it('refuses masked frames, reserved bits and oversized messages', () => {
    const masked = clientFrame(OPCODE.BINARY, Buffer.from('x'), Buffer.from([1, 2, 3, 4]));
    expect(() => framesOf(new FrameParser(), [masked])).toThrow(/masked/);
    expect(() => framesOf(new FrameParser(), [Buffer.from([0xc2, 0])])).toThrow(/reserved/);
    const huge = Buffer.concat([Buffer.from([0x82, 127]), bigLength(2 ** 21)]);
    expect(() => framesOf(new FrameParser(), [huge])).toThrow(/too large/);
  });
});

describe('HttpResponseParser', () => {
  const session = {
    token: 't0k',
    sessionId: 's',
    deviceId: 'd',
    heartbeatMs: 5000,
    connectPath: '/device/v1/connect',
  };
  const body = JSON.stringify(session);
  const created =
    'HTTP/1.1 201 Created\r\ncontent-type: application/json; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\nDate: x\r\nConnection: keep-alive\r\n\r\n${body}`;
  const refused =
    'HTTP/1.1 401 Unauthorized\r\ncontent-length: 47\r\n\r\n{"error":"bad_credential","message":"no match"}';

  function responsesOf(reads: Buffer[]) {
    const parser = new HttpResponseParser();
    const out = [];
    for (const read of reads) {
      parser.push(read);
      for (let r = parser.next(); r; r = parser.next()) out.push({ ...r, body: Buffer.from(r.body) });
    }
    return out;
  }

  it('reads pipelined answers however the bytes are split', () => {
    const bytes = Buffer.from(created + refused + created);
    for (const reads of splits(bytes)) {
      const answers = responsesOf(reads);
      expect(answers.map((a) => a.status)).toEqual([201, 401, 201]);
      expect(sessionOf(answers[0]!).token).toBe('t0k');
      expect(() => sessionOf(answers[1]!)).toThrow(/401 bad_credential: no match/);
      expect(answers[2]!.headers.get('content-type')).toBe('application/json; charset=utf-8');
    }
  });

  it('stops at a 101 and leaves the first frames in rest()', () => {
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const head =
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${acceptKeyOf(key)}\r\nSec-WebSocket-Protocol: protomsg/msgpack\r\n\r\n`;
    const frame = serverFrame(OPCODE.BINARY, Buffer.from([1, 2, 3]));
    for (const reads of splits(Buffer.concat([Buffer.from(head), frame]))) {
      const parser = new HttpResponseParser();
      let res: ReturnType<HttpResponseParser['next']>;
      let i = 0;
      for (; res === undefined && i < reads.length; i++) {
        parser.push(reads[i]!);
        res = parser.next();
      }
      expect(res && upgradeProblem(res, key)).toBeUndefined();
      const rest = Buffer.concat([parser.rest(), ...reads.slice(i)]);
      expect(framesOf(new FrameParser(), [rest])).toEqual([
        { opcode: OPCODE.BINARY, payload: Buffer.from([1, 2, 3]) },
      ]);
    }
  });

  it('refuses a wrong accept key, another subprotocol and a non-101', () => {
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const answer = (headers: string, status = '101 Switching Protocols') => {
      const parser = new HttpResponseParser();
      parser.push(Buffer.from(`HTTP/1.1 ${status}\r\nUpgrade: websocket\r\n${headers}\r\n`));
      return parser.next()!;
    };
    const accept = `Sec-WebSocket-Accept: ${acceptKeyOf(key)}\r\n`;
    expect(
      upgradeProblem(answer(`${accept}Sec-WebSocket-Protocol: protomsg/msgpack\r\n`), key),
    ).toBeUndefined();
    expect(upgradeProblem(answer(`${accept}`), key)).toMatch(/did not choose/);
    expect(
      upgradeProblem(answer('Sec-WebSocket-Accept: x\r\nSec-WebSocket-Protocol: protomsg/msgpack\r\n'), key),
    ).toMatch(/Accept/);
    expect(upgradeProblem(answer('content-length: 0\r\n', '401 Unauthorized'), key)).toBe('status 401');
  });

  it('refuses what is not HTTP', () => {
    const parser = new HttpResponseParser();
    parser.push(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'));
    expect(() => parser.next()).toThrow(/not an HTTP response/);
  });
});

describe('requests', () => {
  it('the accept key is RFC 6455’s example', () => {
    expect(acceptKeyOf('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    const digest = createHash('sha1').update('k258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    expect(acceptKeyOf('k')).toBe(digest);
  });

  it('the session start carries the simulator body with an exact Content-Length', () => {
    const body = { deviceId: 'gw-1', credential: 'c', identity: { serial: 's', mac: 'm' } };
    const text = sessionRequestBytes('127.0.0.1:9', body).toString();
    const [head, json] = text.split('\r\n\r\n') as [string, string];
    expect(head.split('\r\n')[0]).toBe('POST /device/v1/sessions HTTP/1.1');
    expect(head).toContain(`content-length: ${Buffer.byteLength(json)}`);
    expect(head).toContain('Host: 127.0.0.1:9');
    expect(JSON.parse(json)).toEqual(body);
  });

  it('the upgrade offers protomsg/msgpack with the bearer token', () => {
    const text = upgradeRequest('h:1', '/device/v1/connect', 'KEY', 'TOKEN');
    expect(text.startsWith('GET /device/v1/connect HTTP/1.1\r\n')).toBe(true);
    expect(text.endsWith('\r\n\r\n')).toBe(true);
    for (const line of [
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: KEY',
      'authorization: Bearer TOKEN',
      'sec-websocket-protocol: protomsg/msgpack',
    ]) {
      expect(text).toContain(`\r\n${line}\r\n`);
    }
  });
});
