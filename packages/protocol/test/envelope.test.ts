import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeProtoMsg,
  encodeProtoMsg,
  encodeProtoMsgScratch,
  isFleetwireProto,
  MENDER_DEVICE_MAX_FRAME_BYTES,
  MsgpackWriter,
  msgIdOf,
  PROTO,
  PROTOCOL_ERROR,
  ProtocolError,
  type ProtocolErrorCode,
  type ProtoMsg,
} from '../src/index.ts';
import { hex, mutate, normalise, prng, protoMsg, str, toHex } from './support.ts';

const SID = 'c3f9a8a4-7e0d-4b8a-9a3e-2f4d5b6c7d8e';

/**
 * What Mender's Go code (go-lib-micro ws.ProtoMsg, vmihailenco/msgpack v5, default encoder)
 * writes: structs as maps in field order, omitempty fields dropped, `ProtoType uint16` in its
 * fixed 3-byte form (no UseCompactInts), []byte as bin, strings < 32 bytes as fixstr, 32–255 as str8.
 */
const GO_CONTROL_PING = hex(
  '81', //                       map, 1 entry (Body is nil → omitted)
  str('hdr'),
  '82', //                       map, 2 entries (sid "" and props nil → omitted)
  str('proto'),
  'cd ffff', //                  uint16 0xFFFF, fixed width
  str('typ'),
  str('ping'),
);

/**
 * A shell frame with a session, props and a body. `status` is a shell.MenderShellMessageStatus,
 * a named int: inside map[string]interface{} it is encoded through reflection as a full int64
 * (d3 + 8 bytes) rather than compactly. Go map order is random; this is one of the two orders.
 */
const GO_SHELL = hex(
  '82', //                       map, 2 entries: hdr, body
  str('hdr'),
  '84', //                       map, 4 entries: proto, typ, sid, props
  str('proto'),
  'cd 0001', //                  ProtoTypeShell
  str('typ'),
  str('shell'),
  str('sid'),
  str(SID), //                   36 bytes → str8 (d9 24 …)
  str('props'),
  '82',
  str('status'),
  'd3 0000000000000001', //      int64 1 (NormalMessage)
  str('user_id'),
  str('u'),
  str('body'),
  'c4 03 6c730a', //             bin8, "ls\n"
);

const SHELL_MSG: ProtoMsg = {
  hdr: { proto: PROTO.SHELL, typ: 'shell', sid: SID, props: { status: 1, user_id: 'u' } },
  body: new TextEncoder().encode('ls\n'),
};

function codeOf(run: () => unknown): { code: ProtocolErrorCode; path: string | undefined } {
  try {
    run();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    return { code: error.code, path: error.path };
  }
  throw new Error('expected a ProtocolError');
}

describe('Mender interop vectors', () => {
  it('decodes Go control ping and re-encodes it byte for byte', () => {
    const msg = decodeProtoMsg(GO_CONTROL_PING);
    expect(msg).toEqual({ hdr: { proto: PROTO.CONTROL, typ: 'ping' } });
    expect(toHex(encodeProtoMsg(msg))).toBe(toHex(GO_CONTROL_PING));
  });

  it('decodes a Go shell frame with sid, int64 props and a bin body', () => {
    expect(decodeProtoMsg(GO_SHELL)).toEqual(SHELL_MSG);
  });

  it('encodes the shell frame as Go does, except the named-int status which it writes compactly', () => {
    const ours = encodeProtoMsg(SHELL_MSG);
    const goWithCompactStatus = toHex(GO_SHELL).replace('d30000000000000001', '01');
    expect(toHex(ours)).toBe(goWithCompactStatus);
    expect(decodeProtoMsg(ours)).toEqual(decodeProtoMsg(GO_SHELL));
  });

  it('accepts proto in every integer encoding', () => {
    const encodings = ['01', 'cc01', 'cd0001', 'ce00000001', 'cf0000000000000001', 'd001', 'd10001'];
    encodings.push('d200000001', 'd30000000000000001');
    for (const proto of encodings) {
      const bytes = hex('81', str('hdr'), '81', str('proto'), proto);
      expect(decodeProtoMsg(bytes).hdr.proto, proto).toBe(1);
    }
    const max = ['cdffff', 'ce0000ffff', 'cf000000000000ffff', 'd20000ffff', 'd3000000000000ffff'];
    for (const proto of max)
      expect(decodeProtoMsg(hex('81', str('hdr'), '81', str('proto'), proto)).hdr.proto).toBe(0xffff);
  });

  it('accepts map16/str8/bin16 forms, any key order, and nil or empty optional fields', () => {
    const bytes = hex(
      'de 0002', //               map16 with 2 entries
      str('body'),
      'c5 0002 6869', //          bin16 "hi"
      'd9 03 686472', //          "hdr" as str8
      '84',
      str('props'),
      'c0', //                    nil props
      str('sid'),
      'a0', //                    "" sid
      str('typ'),
      str('x'),
      str('proto'),
      '03',
    );
    expect(decodeProtoMsg(bytes)).toEqual({
      hdr: { proto: 3, typ: 'x' },
      body: new Uint8Array([0x68, 0x69]),
    });
    expect(decodeProtoMsg(hex('82', str('hdr'), '81', str('proto'), '01', str('body'), 'c0'))).toEqual({
      hdr: { proto: 1 },
    });
    expect(decodeProtoMsg(hex('82', str('hdr'), '81', str('proto'), '01', str('body'), 'c400'))).toEqual({
      hdr: { proto: 1 },
    });
  });
});

describe('encodeProtoMsg', () => {
  it('omits empty typ, sid, props and body like Go omitempty', () => {
    const bytes = encodeProtoMsg({ hdr: { proto: 1, typ: '', sid: '', props: {} }, body: new Uint8Array(0) });
    expect(toHex(bytes)).toBe(toHex(hex('81', str('hdr'), '81', str('proto'), 'cd0001')));
  });

  it('skips undefined props values', () => {
    const bytes = encodeProtoMsg({ hdr: { proto: 1, props: { a: undefined } } });
    expect(decodeProtoMsg(bytes)).toEqual({ hdr: { proto: 1 } });
  });

  it.each([
    [{ hdr: { proto: 0 } }, 'hdr.proto'],
    [{ hdr: { proto: 0x10000 } }, 'hdr.proto'],
    [{ hdr: { proto: 1.5 } }, 'hdr.proto'],
    [{ hdr: { proto: 1, typ: 7 } }, 'hdr.typ'],
    [{ hdr: { proto: 1, props: [] } }, 'hdr.props'],
    [{ hdr: { proto: 1 }, body: 'text' }, 'body'],
  ])('rejects invalid message %j', (msg, path) => {
    expect(codeOf(() => encodeProtoMsg(msg as unknown as ProtoMsg))).toEqual({ code: 'INVALID_VALUE', path });
  });

  it('rejects props values msgpack cannot carry, with their path', () => {
    const msg = { hdr: { proto: 1, props: { nested: { when: new Date(0) } } } };
    expect(codeOf(() => encodeProtoMsg(msg))).toEqual({ code: 'UNSUPPORTED', path: 'hdr.props.nested.when' });
  });

  it('enforces maxFrameBytes, e.g. mender-connect’s 8 KiB read limit', () => {
    const msg = {
      hdr: { proto: PROTO.SHELL, typ: 'shell' },
      body: new Uint8Array(MENDER_DEVICE_MAX_FRAME_BYTES),
    };
    expect(codeOf(() => encodeProtoMsg(msg, { maxFrameBytes: MENDER_DEVICE_MAX_FRAME_BYTES })).code).toBe(
      'TOO_LARGE',
    );
  });
});

describe('decodeProtoMsg strictness', () => {
  const ping = toHex(GO_CONTROL_PING);
  const withHeader = (...fields: string[]) =>
    hex('81', str('hdr'), (0x80 | (fields.length / 2)).toString(16), ...fields);

  it.each<[string, Uint8Array, ProtocolErrorCode, string | undefined]>([
    ['empty input', hex(''), 'MALFORMED', undefined],
    ['reserved byte 0xc1', hex('c1'), 'MALFORMED', undefined],
    ['truncated frame', hex(ping.slice(0, -2)), 'MALFORMED', 'hdr.typ'],
    ['trailing bytes', hex(ping, '00'), 'TRAILING_BYTES', undefined],
    ['top level is an array', hex('91 01'), 'NOT_A_MAP', undefined],
    ['top level is a string', hex(str('hdr')), 'NOT_A_MAP', undefined],
    ['empty map', hex('80'), 'MISSING_FIELD', undefined],
    ['hdr is not a map', hex('81', str('hdr'), '01'), 'NOT_A_MAP', 'hdr'],
    ['missing proto', withHeader(str('typ'), str('ping')), 'MISSING_FIELD', 'hdr.proto'],
    ['proto is a string', withHeader(str('proto'), str('1')), 'WRONG_TYPE', 'hdr.proto'],
    ['proto is negative', withHeader(str('proto'), 'ff'), 'WRONG_TYPE', 'hdr.proto'],
    ['proto above uint16', withHeader(str('proto'), 'ce00010000'), 'WRONG_TYPE', 'hdr.proto'],
    ['proto is a float', withHeader(str('proto'), 'cb3ff0000000000000'), 'WRONG_TYPE', 'hdr.proto'],
    ['proto is nil', withHeader(str('proto'), 'c0'), 'WRONG_TYPE', 'hdr.proto'],
    ['proto 0 (INVALID)', withHeader(str('proto'), '00'), 'INVALID_VALUE', 'hdr.proto'],
    ['typ is an integer', withHeader(str('proto'), '01', str('typ'), '01'), 'WRONG_TYPE', 'hdr.typ'],
    ['sid is nil', withHeader(str('proto'), '01', str('sid'), 'c0'), 'WRONG_TYPE', 'hdr.sid'],
    ['typ is not UTF-8', withHeader(str('proto'), '01', str('typ'), 'a2 c328'), 'MALFORMED', 'hdr.typ'],
    ['props is an array', withHeader(str('proto'), '01', str('props'), '90'), 'NOT_A_MAP', 'hdr.props'],
    [
      'props key is an integer',
      withHeader(str('proto'), '01', str('props'), '81 01 01'),
      'WRONG_TYPE',
      'hdr.props',
    ],
    [
      'props holds an extension',
      withHeader(str('proto'), '01', str('props'), '81', str('t'), 'd6ff00000000'),
      'UNSUPPORTED',
      'hdr.props.t',
    ],
    [
      'props holds an unsafe int64',
      withHeader(str('proto'), '01', str('props'), '81', str('n'), 'cf0020000000000000'),
      'UNSUPPORTED',
      'hdr.props.n',
    ],
    [
      'props key __proto__',
      withHeader(str('proto'), '01', str('props'), '81', str('__proto__'), '80'),
      'UNSUPPORTED',
      'hdr.props',
    ],
    [
      'duplicate props key',
      withHeader(str('proto'), '01', str('props'), '82', str('a'), '01', str('a'), '02'),
      'DUPLICATE_KEY',
      'hdr.props.a',
    ],
    ['duplicate proto', withHeader(str('proto'), '01', str('proto'), '02'), 'DUPLICATE_KEY', 'hdr.proto'],
    [
      'unknown header key',
      withHeader(str('proto'), '01', str('msgid'), str('x')),
      'UNKNOWN_FIELD',
      'hdr.msgid',
    ],
    [
      'unknown top-level key',
      hex('82', str('hdr'), '81', str('proto'), '01', str('extra'), '01'),
      'UNKNOWN_FIELD',
      'extra',
    ],
    [
      'duplicate hdr',
      hex('82', str('hdr'), '81', str('proto'), '01', str('hdr'), '81', str('proto'), '01'),
      'DUPLICATE_KEY',
      'hdr',
    ],
    [
      'body is a string',
      hex('82', str('hdr'), '81', str('proto'), '01', str('body'), str('ls')),
      'WRONG_TYPE',
      'body',
    ],
    [
      'body is an integer',
      hex('82', str('hdr'), '81', str('proto'), '01', str('body'), '07'),
      'WRONG_TYPE',
      'body',
    ],
    ['map32 claiming 4 billion entries', hex('df ffffffff', str('hdr')), 'MALFORMED', undefined],
    [
      'bin32 longer than the frame',
      hex('82', str('hdr'), '81', str('proto'), '01', str('body'), 'c6 00001000 00'),
      'MALFORMED',
      'body',
    ],
  ])('%s', (_name, bytes, code, path) => {
    expect(codeOf(() => decodeProtoMsg(bytes))).toEqual({ code, path });
  });

  it('checks the frame size before parsing anything', () => {
    const garbage = new Uint8Array(101).fill(0xc1);
    expect(codeOf(() => decodeProtoMsg(garbage, { maxFrameBytes: 100 }))).toEqual({
      code: 'TOO_LARGE',
      path: undefined,
    });
  });

  it('checks the declared body length against maxBodyBytes before reading it', () => {
    const bytes = encodeProtoMsg({ hdr: { proto: 1 }, body: new Uint8Array(65) });
    expect(codeOf(() => decodeProtoMsg(bytes, { maxBodyBytes: 64 }))).toEqual({
      code: 'TOO_LARGE',
      path: 'body',
    });
    expect(decodeProtoMsg(bytes, { maxBodyBytes: 65 }).body).toHaveLength(65);
  });

  it('limits nesting inside props', () => {
    const nested = '91'.repeat(40) + '01';
    const bytes = hex('81', str('hdr'), '82', str('proto'), '01', str('props'), '81', str('deep'), nested);
    expect(codeOf(() => decodeProtoMsg(bytes)).code).toBe('TOO_DEEP');
    expect(decodeProtoMsg(bytes, { maxDepth: 64 }).hdr.props?.deep).toBeDefined();
  });

  it('clamps huge maxDepth values so recursion cannot overflow the stack', () => {
    const bytes = hex(
      '81',
      str('hdr'),
      '82',
      str('proto'),
      '01',
      str('props'),
      '81',
      str('deep'),
      '91'.repeat(100_000),
      '01',
    );
    expect(codeOf(() => decodeProtoMsg(bytes, { maxDepth: 1e9 })).code).toBe('TOO_DEEP');
  });

  it('rejects input that is not bytes', () => {
    expect(codeOf(() => decodeProtoMsg('hello' as unknown as Uint8Array)).code).toBe('WRONG_TYPE');
  });

  it('returns the body as a view of the input', () => {
    const bytes = encodeProtoMsg(SHELL_MSG);
    const body = decodeProtoMsg(bytes).body!;
    expect(body.buffer).toBe(bytes.buffer);
    expect(body.constructor).toBe(Uint8Array);
  });
});

describe('msgIdOf', () => {
  it('reads props.msgid, the only correlation Mender has', () => {
    expect(msgIdOf({ hdr: { proto: PROTO.CONTROL, props: { msgid: 'm-7' } } })).toBe('m-7');
    expect(msgIdOf({ hdr: { proto: PROTO.CONTROL, props: { msgid: 7 } } })).toBeUndefined();
    expect(msgIdOf({ hdr: { proto: PROTO.CONTROL } })).toBeUndefined();
  });
});

describe('proto numbers', () => {
  it('keeps fleetwire protos inside 0x0100–0x01FF, away from Mender’s', () => {
    const fleetwire = [PROTO.TELEMETRY, PROTO.EVENT, PROTO.STATUS, PROTO.COMMAND, PROTO.LOG, PROTO.UPDATE];
    expect(fleetwire.every(isFleetwireProto)).toBe(true);
    expect(
      [PROTO.SHELL, PROTO.FILE_TRANSFER, PROTO.PORT_FORWARD, PROTO.MENDER_CLIENT, PROTO.CONTROL].some(
        isFleetwireProto,
      ),
    ).toBe(false);
    expect(new Set(Object.values(PROTO)).size).toBe(Object.values(PROTO).length);
  });
});

describe('properties', () => {
  it('round-trips random messages (normalised for omitted empties)', () => {
    fc.assert(
      fc.property(protoMsg, (msg) => {
        expect(decodeProtoMsg(encodeProtoMsg(msg))).toEqual(normalise(msg));
      }),
      { numRuns: 2000 },
    );
  });

  it('re-encoding a decoded message is stable', () => {
    fc.assert(
      fc.property(protoMsg, (msg) => {
        const once = encodeProtoMsg(msg);
        expect(toHex(encodeProtoMsg(decodeProtoMsg(once)))).toBe(toHex(once));
      }),
      { numRuns: 1000 },
    );
  });

  it('encodes the bytes of the reference encoder (a fresh writer per message), scratch or not', () => {
    fc.assert(
      fc.property(protoMsg, protoMsg, (a, b) => {
        const copyA = encodeProtoMsg(a);
        const scratchB = encodeProtoMsgScratch(b);
        expect(toHex(scratchB)).toBe(toHex(referenceEncoding(b)));
        // The shared writer was reused for b: a's copy must not have changed.
        expect(toHex(copyA)).toBe(toHex(referenceEncoding(a)));
        expect(toHex(encodeProtoMsg(b))).toBe(toHex(referenceEncoding(b)));
      }),
      { numRuns: 2000 },
    );
  });

  it('an encode inside an encode (a getter in props) does not disturb the outer one', () => {
    const inner: ProtoMsg = { hdr: { proto: PROTO.COMMAND, typ: 'ack' }, body: Uint8Array.of(0x80) };
    let innerBytes: Uint8Array | undefined;
    const props = {
      get nested() {
        innerBytes = encodeProtoMsg(inner);
        return 'x';
      },
    };
    const outer: ProtoMsg = { hdr: { proto: PROTO.CONTROL, typ: 'ack', props } };
    const bytes = encodeProtoMsgScratch(outer);
    expect(decodeProtoMsg(bytes).hdr.props).toEqual({ nested: 'x' });
    expect(decodeProtoMsg(innerBytes!)).toEqual(inner);
  });

  it('decoded messages stay intact while later frames are decoded (the reader is reused)', () => {
    fc.assert(
      fc.property(fc.array(protoMsg, { minLength: 2, maxLength: 6 }), (msgs) => {
        const decoded = msgs.map((msg) => decodeProtoMsg(encodeProtoMsg(msg)));
        expect(decoded).toEqual(msgs.map(normalise));
      }),
      { numRuns: 500 },
    );
  });

  it('a failed decode leaves the next one unaffected, with the right error path', () => {
    const bad = encodeProtoMsg({ hdr: { proto: PROTO.CONTROL, typ: 'ping', props: { a: 1 } } });
    // props.a: 0xc1 (reserved) instead of the value 1.
    bad[bad.length - 1] = 0xc1;
    expect(() => decodeProtoMsg(bad)).toThrow(expect.objectContaining({ path: 'hdr.props.a' }));
    expect(decodeProtoMsg(GO_CONTROL_PING)).toEqual({ hdr: { proto: PROTO.CONTROL, typ: 'ping' } });
  });

  const onlyProtocolErrors = (bytes: Uint8Array) => {
    try {
      decodeProtoMsg(bytes, { maxFrameBytes: 4096, maxBodyBytes: 1024 });
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      expect(Object.values(PROTOCOL_ERROR)).toContain(error.code);
    }
  };

  it('random bytes never throw anything but ProtocolError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), onlyProtocolErrors), { numRuns: 20_000 });
  });

  it('mutated valid frames never throw anything but ProtocolError', () => {
    const random = prng(0xf1ee7);
    fc.assert(
      fc.property(protoMsg, fc.integer({ min: 1, max: 5 }), (msg, rounds) => {
        let bytes = encodeProtoMsg(msg);
        for (let i = 0; i < rounds; i++) {
          bytes = mutate(bytes, random);
          onlyProtocolErrors(bytes);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

/** The envelope as encodeProtoMsg wrote it before it used a shared writer (Go's layout, see above). */
function referenceEncoding(msg: ProtoMsg): Uint8Array {
  const writer = new MsgpackWriter(64);
  const { hdr, body } = msg;
  const hasBody = body !== undefined && body.length > 0;
  const props = Object.values(hdr.props ?? {}).filter((v) => v !== undefined).length;
  writer.mapHeader(hasBody ? 2 : 1);
  writer.string('hdr');
  writer.mapHeader(1 + (hdr.typ ? 1 : 0) + (hdr.sid ? 1 : 0) + (props > 0 ? 1 : 0));
  writer.string('proto');
  writer.uint16Fixed(hdr.proto);
  if (hdr.typ) {
    writer.string('typ');
    writer.string(hdr.typ);
  }
  if (hdr.sid) {
    writer.string('sid');
    writer.string(hdr.sid);
  }
  if (props > 0) {
    writer.string('props');
    writer.map(hdr.props!, 2);
  }
  if (hasBody) {
    writer.string('body');
    writer.bin(body);
  }
  return writer.finish();
}
