import { Compile } from 'typebox/compile';
import { describe, expect, it } from 'vitest';
import {
  acceptsCommandAckBody,
  acceptsCommandReply,
  acceptsCommandRequestBody,
  acceptsCommandResultBody,
  acceptsTelemetryMessage,
  acceptsTelemetryRecordBody,
} from '../src/fast-check.ts';
import {
  CommandAckBody,
  CommandReply,
  CommandRequestBody,
  CommandResultBody,
  TelemetryMessage,
  TelemetryRecordBody,
  validatePayload,
} from '../src/index.ts';
import { int, prng, type Random } from './random.ts';

/** A valid record with every optional part, as the edges produce them. */
function record(random: Random, withReceivedAt: boolean): Record<string, unknown> {
  const io: Record<string, unknown> = {};
  for (let i = 0; i < 1 + int(random, 12); i++) io[String(int(random, 300))] = int(random, 70_000);
  return {
    deviceTime: 1_700_000_000_000 + int(random, 1e9),
    ...(withReceivedAt ? { receivedAt: 1_700_000_000_000 } : {}),
    priority: int(random, 3),
    eventIoId: int(random, 300),
    position: {
      lat: random() * 180 - 90,
      lon: random() * 360 - 180,
      alt: int(random, 2000),
      angle: int(random, 361),
      satellites: int(random, 20),
      speed: int(random, 200),
    },
    io,
    attributes: { ignition: random() < 0.5, externalVoltageV: 12.6, gsmSignal: int(random, 6), note: 'ok' },
  };
}

const NASTY: unknown[] = [
  undefined,
  null,
  -1,
  0.5,
  256,
  65_536,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  8_640_000_000_000_001,
  '',
  'x'.repeat(1025),
  'x'.repeat(4097),
  '😀'.repeat(600),
  true,
  [],
  {},
  [1],
  { a: 1 },
  new Uint8Array(2),
  'bad token!',
];

/** Replaces, adds or deletes one value somewhere in the tree. */
function mutate(value: unknown, random: Random): unknown {
  if (typeof value !== 'object' || value === null) return NASTY[int(random, NASTY.length)];
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [...value] : { ...value };
  const keys = Object.keys(copy);
  const roll = random();
  if (roll < 0.1 || keys.length === 0) {
    (copy as Record<string, unknown>)[['extra', '70000', 'x-y', '1', 'Ab_9'][int(random, 5)]!] =
      NASTY[int(random, NASTY.length)];
  } else if (roll < 0.2) {
    delete (copy as Record<string, unknown>)[keys[int(random, keys.length)]!];
  } else {
    const key = keys[int(random, keys.length)]!;
    (copy as Record<string, unknown>)[key] = mutate((copy as Record<string, unknown>)[key], random);
  }
  return copy;
}

describe('fast accept paths agree with the TypeBox schemas', () => {
  const cases = [
    {
      name: 'TelemetryMessage',
      accepts: acceptsTelemetryMessage,
      schema: TelemetryMessage,
      make: (random: Random) => ({
        tenant: 'default',
        deviceId: '356307042441013',
        source: 'teltonika',
        codec: 0x8e,
        records: Array.from({ length: 1 + int(random, 4) }, () => record(random, true)),
      }),
    },
    {
      name: 'TelemetryRecordBody',
      accepts: acceptsTelemetryRecordBody,
      schema: TelemetryRecordBody,
      make: (random: Random) => ({
        records: Array.from({ length: 1 + int(random, 4) }, () => record(random, false)),
      }),
    },
    {
      name: 'CommandRequestBody',
      accepts: acceptsCommandRequestBody,
      schema: CommandRequestBody,
      make: (random: Random) => ({
        commandId: `c${int(random, 1e6)}`,
        name: ['get_d_parameters', 'reboot', 'codec12', 'a.b-c'][int(random, 4)],
        ...(random() < 0.5 ? { expiresAt: 1_700_000_000_000 + int(random, 1e9) } : {}),
      }),
    },
    {
      name: 'CommandAckBody',
      accepts: acceptsCommandAckBody,
      schema: CommandAckBody,
      make: (random: Random) => ({ commandId: `c${int(random, 1e6)}` }),
    },
    {
      name: 'CommandResultBody',
      accepts: acceptsCommandResultBody,
      schema: CommandResultBody,
      make: (random: Random) => ({
        commandId: `c${int(random, 1e6)}`,
        ok: random() < 0.5,
        ...(random() < 0.7 ? { output: 'x'.repeat(int(random, 300)) } : {}),
        ...(random() < 0.3 ? { error: 'failed' } : {}),
      }),
    },
    {
      name: 'CommandReply',
      accepts: acceptsCommandReply,
      schema: CommandReply,
      make: (random: Random) => ({
        tenant: 'default',
        deviceId: `gw-${int(random, 5000)}`,
        ...(random() < 0.8 ? { commandId: `c${int(random, 1e6)}` } : {}),
        ...(random() < 0.3 ? { text: 'Ver:03.27' } : {}),
        ...(random() < 0.5 ? { ok: random() < 0.5 } : {}),
        ...(random() < 0.5 ? { output: '{"serial":"SN-1"}' } : {}),
        ...(random() < 0.2 ? { error: 'failed' } : {}),
        receivedAt: 1_700_000_000_000 + int(random, 1e9),
      }),
    },
  ];

  for (const { name, accepts, schema, make } of cases) {
    it(`${name}: never accepts what the schema refuses (10,000 mutated values)`, () => {
      const check = Compile(schema);
      const random = prng(0x5eed);
      let acceptedValid = 0;
      let refused = 0;
      for (let i = 0; i < 10_000; i++) {
        let value: unknown = make(random);
        for (let m = int(random, 4); m > 0; m--) value = mutate(value, random);
        const fast = accepts(value);
        if (fast) {
          if (!check.Check(value)) expect.fail(`accepted, but the schema refuses ${JSON.stringify(value)}`);
          acceptedValid++;
        } else refused++;
      }
      // Both outcomes occur: the fast path is exercised, and the mutations do break values.
      expect(acceptedValid).toBeGreaterThan(1_000);
      expect(refused).toBeGreaterThan(1_000);
    }, 60_000);

    it(`${name}: accepts what the edges produce`, () => {
      const random = prng(7);
      for (let i = 0; i < 500; i++) expect(accepts(make(random))).toBe(true);
    });
  }

  it('a value the fast path is unsure of is still judged (and named) by the schema', () => {
    const longButValid = {
      records: [{ deviceTime: 1, attributes: { note: '😀'.repeat(3000) } }],
    };
    expect(acceptsTelemetryRecordBody(longButValid)).toBe(false);
    expect(validatePayload(TelemetryRecordBody, longButValid)).toBe(longButValid);
    expect(() =>
      validatePayload(TelemetryRecordBody, { records: [{ deviceTime: 1, io: { abc: 1 } }] }),
    ).toThrow(/body\.records\.0\.io/);
  });
});
