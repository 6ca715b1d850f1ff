/**
 * Seeded randomness without dependencies, shared by the property tests and `fuzz-1m.ts`
 * (which runs under plain `node`, outside vitest).
 */
import type { ProtoMsg } from '../src/index.ts';

export type Random = () => number;

/** mulberry32: small, fast and good enough to drive a fuzzer reproducibly from a seed. */
export function prng(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const int = (random: Random, max: number): number => Math.floor(random() * max);

export function randomBytes(random: Random, maxLength: number): Uint8Array {
  const bytes = new Uint8Array(int(random, maxLength + 1));
  for (let i = 0; i < bytes.length; i++) bytes[i] = int(random, 256);
  return bytes;
}

/** Flips, inserts, deletes or overwrites a few bytes, or truncates. */
export function mutate(bytes: Uint8Array, random: Random): Uint8Array {
  const out = Array.from(bytes);
  const edits = 1 + int(random, 4);
  for (let i = 0; i < edits; i++) {
    const at = int(random, out.length + 1);
    const choice = random();
    if (choice < 0.3 && out.length > 0) out[at % out.length] = int(random, 256);
    else if (choice < 0.5 && out.length > 0)
      out[at % out.length] = (out[at % out.length] ?? 0) ^ (1 << int(random, 8));
    else if (choice < 0.7) out.splice(at, 0, int(random, 256));
    else if (choice < 0.85) out.splice(at, 1);
    else out.length = Math.min(out.length, at);
  }
  return Uint8Array.from(out);
}

const WORDS = ['ping', 'shell', 'record', 'msgid', 'status', 'user_id', 'ž€', 'x'.repeat(40), ''];

function randomLeaf(random: Random): unknown {
  switch (int(random, 7)) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return int(random, 2 ** 40) - 2 ** 39;
    case 3:
      return random() * 1000;
    case 4:
      return randomBytes(random, 16);
    default:
      return WORDS[int(random, WORDS.length)];
  }
}

function randomValue(random: Random, depth: number): unknown {
  const kind = depth > 3 ? 0 : int(random, 4);
  if (kind === 1) return Array.from({ length: int(random, 4) }, () => randomValue(random, depth + 1));
  if (kind === 2) return randomMap(random, depth + 1);
  return randomLeaf(random);
}

function randomMap(random: Random, depth: number): Record<string, unknown> {
  const map: Record<string, unknown> = {};
  for (let i = int(random, 4); i > 0; i--)
    map[`${WORDS[int(random, WORDS.length)]}${i}`] = randomValue(random, depth);
  return map;
}

const PROTOS = [1, 2, 3, 4, 0x0100, 0x0101, 0x0102, 0x0103, 0x0104, 0xffff];

export function randomProtoMsg(random: Random): ProtoMsg {
  const hdr: ProtoMsg['hdr'] = {
    proto: random() < 0.8 ? PROTOS[int(random, PROTOS.length)]! : 1 + int(random, 0xffff),
  };
  if (random() < 0.8) hdr.typ = WORDS[int(random, WORDS.length)];
  if (random() < 0.5) hdr.sid = 'c3f9a8a4-7e0d-4b8a-9a3e-2f4d5b6c7d8e';
  if (random() < 0.5) hdr.props = randomMap(random, 2);
  return random() < 0.6 ? { hdr, body: randomBytes(random, 64) } : { hdr };
}
