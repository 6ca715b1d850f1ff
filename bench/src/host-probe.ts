/**
 * How fast the host is right now. This machine's speed drifts: the same code has cost 1.6× the CPU
 * per record from one hour to the next, with nothing else running. So each bench prints the CPU
 * cost of one loopback TCP round trip between two Node processes (a write, a wake-up and a read on
 * each side), which is the kind of work that dominates every pipeline here. Two runs are comparable
 * only when their probes agree.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { CLK_TCK, ticksOf } from './cpu.ts';

/** The echo peer: a TCP server that writes back whatever it reads. */
const ECHO_SERVER = `
const server = require('node:net').createServer((s) => { s.setNoDelay(true); s.on('data', (b) => s.write(b)); });
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
process.stdin.on('end', () => process.exit(0)).resume();
`;

export interface HostProbe {
  roundTripsPerSecond: number;
  /** CPU of both processes per round trip, in microseconds. */
  cpuMicrosPerRoundTrip: number;
}

export async function probeHost(durationMs = 1_000): Promise<HostProbe> {
  const peer = spawn(process.execPath, ['-e', ECHO_SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      peer.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim())));
      peer.once('error', reject);
    });
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const message = Buffer.alloc(16, 1);
    const round = async (until: number) => {
      let trips = 0;
      await new Promise<void>((resolve) => {
        socket.on('data', () => {
          trips++;
          if (performance.now() < until) socket.write(message);
          else resolve();
        });
        socket.write(message);
      });
      socket.removeAllListeners('data');
      return trips;
    };
    await round(performance.now() + 100); // warm up both sides
    const peerBefore = ticksOf(peer.pid!);
    const selfBefore = process.cpuUsage();
    const started = performance.now();
    const trips = await round(started + durationMs);
    const seconds = (performance.now() - started) / 1000;
    const self = process.cpuUsage(selfBefore);
    const peerMicros = ((ticksOf(peer.pid!) - peerBefore) / CLK_TCK) * 1e6;
    socket.destroy();
    return {
      roundTripsPerSecond: trips / seconds,
      cpuMicrosPerRoundTrip: (self.user + self.system + peerMicros) / trips,
    };
  } finally {
    peer.stdin.end();
    peer.kill();
  }
}

export function formatProbe(p: HostProbe): string {
  return `${p.cpuMicrosPerRoundTrip.toFixed(0)} µs of CPU per loopback TCP round trip (${Math.round(p.roundTripsPerSecond).toLocaleString('en-US')}/s)`;
}

/** `probeHost` as one line for a bench's header or footer; never fails the bench. */
export async function hostProbeLine(label: string): Promise<string> {
  try {
    return `host probe ${label}: ${formatProbe(await probeHost())}`;
  } catch (err) {
    return `host probe ${label}: failed (${(err as Error).message})`;
  }
}
