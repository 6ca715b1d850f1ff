/**
 * Decodes 1,000,000 random or mutated frames and checks that every failure is a ProtocolError.
 *
 *   node packages/protocol/test/fuzz-1m.ts [iterations] [seed]
 *
 * Mix per frame: 20% random bytes, 20% random bytes behind a plausible envelope prefix, 60% valid
 * encodings with 1–4 byte mutations. Accepted frames are also re-encoded (must be stable) and,
 * when their proto/typ has a registered device body, body-decoded. Exit code 1 on anything else.
 */
import {
  decodeDeviceBody,
  decodeProtoMsg,
  deviceBodySchema,
  encodeMsgpack,
  encodeProtoMsg,
  ProtocolError,
  type ProtoMsg,
} from '../src/index.ts';
import { int, mutate, prng, type Random, randomBytes, randomProtoMsg } from './random.ts';

const iterations = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? 0xf1ee7);
const LIMITS = { maxFrameBytes: 64 * 1024, maxBodyBytes: 16 * 1024 };
const PREFIXES = [
  [0x82, 0xa3, 0x68, 0x64, 0x72],
  [0x81, 0xa3, 0x68, 0x64, 0x72, 0x82, 0xa5, 0x70, 0x72, 0x6f, 0x74, 0x6f],
  [0x82, 0xa4, 0x62, 0x6f, 0x64, 0x79],
];

const random = prng(seed);
const rejected = new Map<string, number>();
const bodyOutcomes = new Map<string, number>();
const unexpected: { index: number; error: unknown; hex: string }[] = [];
let accepted = 0;
let unstable = 0;

function frame(random: Random): Uint8Array {
  const kind = random();
  if (kind < 0.2) return randomBytes(random, 256);
  if (kind < 0.4) {
    const prefix = PREFIXES[int(random, PREFIXES.length)]!;
    return Uint8Array.from([...prefix, ...randomBytes(random, 128)]);
  }
  return mutate(encodeProtoMsg(withStructuredBody(randomProtoMsg(random), random)), random);
}

/** Some bodies are msgpack maps under a registered proto/typ, so body decoding gets exercised too. */
function withStructuredBody(msg: ProtoMsg, random: Random): ProtoMsg {
  if (random() < 0.7) return msg;
  const hdr = { ...msg.hdr, proto: 0x0100, typ: 'record' };
  const body = encodeMsgpack({
    records: [{ deviceTime: int(random, 2 ** 41), io: { '239': int(random, 2) } }],
  });
  return { hdr, body };
}

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function checkAccepted(msg: ProtoMsg): void {
  const once = encodeProtoMsg(msg);
  const twice = encodeProtoMsg(decodeProtoMsg(once, LIMITS));
  if (Buffer.compare(once, twice) !== 0) unstable++;
  if (deviceBodySchema(msg.hdr.proto, msg.hdr.typ) === undefined) return;
  try {
    decodeDeviceBody(msg);
    count(bodyOutcomes, 'valid');
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    count(bodyOutcomes, error.code);
  }
}

const started = performance.now();
for (let i = 0; i < iterations; i++) {
  const bytes = frame(random);
  try {
    checkAccepted(decodeProtoMsg(bytes, LIMITS));
    accepted++;
  } catch (error) {
    if (error instanceof ProtocolError) count(rejected, error.code);
    else if (unexpected.length < 10)
      unexpected.push({ index: i, error, hex: Buffer.from(bytes).toString('hex') });
    else unexpected.push({ index: i, error, hex: '' });
  }
}
const seconds = (performance.now() - started) / 1000;

const sorted = (map: Map<string, number>) => Object.fromEntries([...map].sort((a, b) => b[1] - a[1]));
console.log(
  `fuzz: ${iterations} frames, seed ${seed}, ${seconds.toFixed(2)} s (${Math.round(iterations / seconds)} frames/s)`,
);
console.log(`accepted: ${accepted}, rejected: ${iterations - accepted - unexpected.length}`);
console.log('rejected by code:', sorted(rejected));
console.log('device bodies of accepted frames:', sorted(bodyOutcomes));
console.log(`unstable re-encodings: ${unstable}, unexpected exceptions: ${unexpected.length}`);
for (const { index, error, hex } of unexpected.slice(0, 10)) console.error(`#${index} ${hex}`, error);
process.exitCode = unexpected.length > 0 || unstable > 0 ? 1 : 0;
