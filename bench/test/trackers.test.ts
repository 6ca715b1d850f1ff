/** The telemetry bench's load trackers against a small real TCP peer that decodes what they send. */
import net from 'node:net';
import {
  type AvlPacket,
  decodeAvlPacket,
  encodeLoginReply,
  encodeRecordCountAck,
  TeltonikaFramer,
} from '@fleetwire/teltonika';
import { afterEach, describe, expect, it } from 'vitest';
import { connectTrackers, type LoadTracker } from '../src/trackers.ts';

/** Accepts every login and answers every packet with its record count, keeping what it decoded. */
async function listeningPeer() {
  const packets: AvlPacket[] = [];
  const server = net.createServer((socket) => {
    const framer = new TeltonikaFramer();
    socket.on('data', (chunk) => {
      for (const frame of framer.push(chunk)) {
        if (frame.kind === 'login') socket.write(encodeLoginReply(true));
        if (frame.kind !== 'data') continue;
        const packet = decodeAvlPacket(frame.bytes); // throws on a bad CRC or count
        packets.push(packet);
        socket.write(encodeRecordCountAck(packet.ack));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, packets, port: (server.address() as net.AddressInfo).port };
}

/** Sends one packet and waits for its reply. */
function sendAndWait(tracker: LoadTracker, records: number): Promise<void> {
  return new Promise((resolve) => {
    tracker.onAck = () => resolve();
    tracker.send(records, true);
  });
}

describe('LoadTracker', () => {
  let peer: Awaited<ReturnType<typeof listeningPeer>>;
  let trackers: LoadTracker[] = [];
  afterEach(() => {
    for (const t of trackers) t.close();
    peer?.server.close();
  });

  it('sends re-stamped packets that decode, with device times that never repeat', async () => {
    peer = await listeningPeer();
    trackers = await connectTrackers(peer.port, 1);
    for (const records of [1, 10, 10, 1]) await sendAndWait(trackers[0]!, records);
    const times = peer.packets.flatMap((p) => p.records.map((r) => r.timestamp));
    expect(peer.packets.map((p) => p.records.length)).toEqual([1, 10, 10, 1]);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(new Set(times).size).toBe(times.length);
    expect(trackers[0]!.lastTs).toBe(times.at(-1));
  });

  it('dates no record of a scenario before the time given to stampFrom', async () => {
    peer = await listeningPeer();
    trackers = await connectTrackers(peer.port, 2);
    const [stamped, unstamped] = trackers as [LoadTracker, LoadTracker];
    // A scenario starts after the latest record of the last one, which may lie ahead of the clock.
    const scenarioStart = Date.now() + 60_000;
    stamped.stampFrom(scenarioStart);
    await sendAndWait(stamped, 10);
    await sendAndWait(unstamped, 10);
    const [ofStamped, ofUnstamped] = peer.packets.map((p) => p.records[0]!.timestamp);
    expect(ofStamped).toBeGreaterThanOrEqual(scenarioStart);
    expect(ofUnstamped).toBeLessThan(scenarioStart); // dated by the clock
    expect(peer.packets[0]!.records.map((r) => r.timestamp - scenarioStart)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
  });
});
