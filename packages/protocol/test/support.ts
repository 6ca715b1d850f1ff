import fc from 'fast-check';
import type { MsgpackValue, ProtoMsg } from '../src/index.ts';

export { mutate, prng } from './random.ts';

/** Hex with spaces/newlines allowed, so byte vectors can be laid out with comments. */
export function hex(...parts: string[]): Uint8Array {
  const digits = parts.join('').replace(/\s+/g, '');
  if (digits.length % 2 !== 0 || /[^0-9a-f]/i.test(digits)) throw new Error(`bad hex: ${digits}`);
  return Uint8Array.from(digits.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** msgpack str header + bytes for an ASCII string, for building vectors. */
export function str(text: string): string {
  const body = toHex(new TextEncoder().encode(text));
  const length = body.length / 2;
  if (length < 32) return (0xa0 | length).toString(16) + body;
  if (length < 256) return `d9${length.toString(16).padStart(2, '0')}${body}`;
  throw new Error('vector helper only handles short strings');
}

const key = fc.string({ unit: 'binary', maxLength: 12 }).filter((k) => k !== '__proto__');
const finiteOrNot = fc.double().map((x) => (Object.is(x, -0) ? 0 : x));

export const msgpackLeaf: fc.Arbitrary<MsgpackValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  finiteOrNot,
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.uint8Array({ maxLength: 40 }),
);

export const msgpackValue: fc.Arbitrary<MsgpackValue> = fc.letrec<{ value: MsgpackValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    msgpackLeaf,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(key, tie('value'), { maxKeys: 5, noNullPrototype: true }),
  ),
})).value;

export const msgpackMap = fc.dictionary(key, msgpackValue, { maxKeys: 6, noNullPrototype: true });

export const protoMsg: fc.Arbitrary<ProtoMsg> = fc.record(
  {
    hdr: fc.record(
      {
        proto: fc.integer({ min: 1, max: 0xffff }),
        typ: fc.string({ unit: 'binary', maxLength: 20 }),
        sid: fc.oneof(fc.uuid(), fc.string({ maxLength: 40 })),
        props: msgpackMap,
      },
      { requiredKeys: ['proto'] },
    ),
    body: fc.uint8Array({ maxLength: 300 }),
  },
  { requiredKeys: ['hdr'] },
);

/** What decoding gives back: empty typ/sid/props/body are omitted on the wire. */
export function normalise(msg: ProtoMsg): ProtoMsg {
  const { proto, typ, sid, props } = msg.hdr;
  const hdr: ProtoMsg['hdr'] = { proto };
  if (typ) hdr.typ = typ;
  if (sid) hdr.sid = sid;
  if (props && Object.keys(props).length > 0) hdr.props = props;
  return msg.body && msg.body.length > 0 ? { hdr, body: msg.body } : { hdr };
}
