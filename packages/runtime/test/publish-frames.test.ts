import { headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { PublishFrames } from '../src/publish-frames.ts';

const text = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? []).toString('latin1');
const REPLY = Buffer.from('_INBOX.abc.');
const data = Buffer.from('abc');

describe('PublishFrames', () => {
  it('writes PUB frames as the NATS protocol (and nats.js) lays them out', () => {
    const frames = new PublishFrames();
    for (const token of [0, 9, 10, 123_456_789]) {
      expect(frames.add('fw.default.up.1.telemetry', REPLY, token, data, undefined, 1024)).toBeUndefined();
    }
    const taken = frames.take(() => true);
    expect(taken?.messages).toBe(4);
    expect(text(taken?.bytes)).toBe(
      [0, 9, 10, 123_456_789]
        .map((t) => `PUB fw.default.up.1.telemetry _INBOX.abc.${t} 3\r\nabc\r\n`)
        .join(''),
    );
    expect(frames.count).toBe(0);
  });

  it('writes the Nats-Msg-Id header exactly as nats.js encodes it', () => {
    const frames = new PublishFrames();
    frames.add('s.x', REPLY, 5, data, ' id-1 ', 1024);
    const h = headers();
    h.set('Nats-Msg-Id', 'id-1');
    const header = h.toString();
    expect(text(frames.take(() => true)?.bytes)).toBe(
      `HPUB s.x _INBOX.abc.5 ${header.length} ${header.length + 3}\r\n${header}abc\r\n`,
    );
  });

  it('leaves out the frames whose token is no longer wanted, keeping the order of the others', () => {
    const frames = new PublishFrames();
    for (const token of [1, 2, 3]) frames.add(`s.${token}`, REPLY, token, data, `id-${token}`, 1024);
    const taken = frames.take((token) => token !== 2);
    expect(taken?.messages).toBe(2);
    const out = text(taken?.bytes);
    expect(out.startsWith('HPUB s.1 ')).toBe(true);
    expect(out).toContain('HPUB s.3 ');
    expect(out).not.toContain('s.2');
    expect(out.split('abc\r\n')).toHaveLength(3);
    expect(frames.take(() => true)).toBeUndefined();
  });

  it('refuses what nats.js would refuse, and appends nothing for it', () => {
    const frames = new PublishFrames();
    expect(frames.add('a b', REPLY, 1, data, undefined, 1024)).toMatch(/invalid subject/);
    expect(frames.add('', REPLY, 1, data, undefined, 1024)).toMatch(/invalid subject/);
    expect(frames.add('a', REPLY, 1, data, 'x\r\ny', 1024)).toMatch(/\\r or \\n/);
    expect(frames.add('a', REPLY, 1, Buffer.alloc(11), undefined, 10)).toMatch(/max_payload/);
    expect(frames.count).toBe(0);
  });

  it('grows past its first buffer without corrupting earlier frames', () => {
    const frames = new PublishFrames();
    const payloads = Array.from({ length: 300 }, (_, i) => Buffer.alloc(1000 + i, i % 256));
    payloads.forEach((p, i) => {
      frames.add(`s.${i}`, REPLY, i, p, i % 2 === 0 ? `id-${i}` : undefined, 1_000_000);
    });
    const out = Buffer.from(frames.take(() => true)!.bytes);
    let at = 0;
    payloads.forEach((p, i) => {
      const lineEnd = out.indexOf('\r\n', at);
      const line = out.subarray(at, lineEnd).toString().split(' ');
      expect(line[1]).toBe(`s.${i}`);
      expect(line[2]).toBe(`_INBOX.abc.${i}`);
      const total = Number(line.at(-1));
      const headerBytes = line[0] === 'HPUB' ? Number(line[3]) : 0;
      const body = out.subarray(lineEnd + 2 + headerBytes, lineEnd + 2 + total);
      expect(body.equals(p)).toBe(true);
      at = lineEnd + 2 + total + 2;
    });
    expect(at).toBe(out.length);
  });
});
