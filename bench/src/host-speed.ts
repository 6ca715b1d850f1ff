/**
 * How fast the host runs right now. This machine switches between a fast and a slow phase (the same
 * telemetry run cost 158–163 CPU ms per 1,000 records in one and 234–346 in the other, with under
 * 1 % steal time), so each bench prints the CPU time of a fixed piece of JavaScript before and after
 * it runs. That figure mostly followed the pipelines' cost (≈ 180 ms in the fast phase, 280–380 ms
 * in the slow one), though not always; a loopback TCP round trip, tried first, did not at all. Runs
 * whose figures differ are certainly not comparable; equal figures do not prove that they are.
 */
import { createHash } from 'node:crypto';

const ROUNDS = 3;
const ITERATIONS = 20_000;

/** Serialises, parses and hashes a tracker-like record: the kind of work every service does. */
function referenceWork(): number {
  const record = {
    imei: '350900000000001',
    ts: 0,
    lat: 54.6,
    lon: 25.2,
    io: { 239: 1, 240: 1, 21: 4, 69: 1, 24: 57, 66: 12_840, 67: 4_012, 16: 1_203_455 },
    tags: ['a', 'b', 'c'],
  };
  const kept: unknown[] = [];
  let checksum = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    record.ts = i;
    const text = JSON.stringify(record);
    const parsed = JSON.parse(text) as { ts: number };
    checksum += parsed.ts + createHash('sha1').update(text).digest()[0]!;
    // Some survive a while, as records in a batch do.
    if (i % 7 === 0) kept.push(parsed);
    if (kept.length > 2_000) kept.length = 0;
  }
  return checksum;
}

/** CPU milliseconds of the reference work: the median of three runs after one to warm up. */
export function measureHostSpeed(): number {
  referenceWork();
  const runs: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const before = process.cpuUsage();
    referenceWork();
    const used = process.cpuUsage(before);
    runs.push((used.user + used.system) / 1000);
  }
  return runs.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)]!;
}

export function hostSpeedLine(label: string): string {
  return `host speed ${label}: ${measureHostSpeed().toFixed(0)} CPU ms for the reference work (lower is faster; see bench/README.md)`;
}
