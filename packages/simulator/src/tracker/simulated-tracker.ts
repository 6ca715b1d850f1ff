import net from 'node:net';
import type { Logger } from '@fleetwire/runtime';
import { encodeCodec12, encodeCodec14, encodeLogin, HEARTBEAT_BYTE } from '@fleetwire/teltonika';
import { type ServerMessage, ServerStreamParser, type TrackerCommand } from '@fleetwire/tracker-client';
import { Backoff, type BackoffOptions } from '../backoff.ts';
import { DEVICE_KIND, DEVICE_STATE, type Device, type DeviceState } from '../device.ts';
import { poisson, type Random } from '../random.ts';
import type { FleetStats } from '../stats.ts';
import { answerCommand } from './commands.ts';
import { type OutgoingPacket, RecordBuffer } from './record-buffer.ts';
import type { Vehicle } from './vehicle.ts';

export interface TrackerSettings {
  host: string;
  port: number;
  /** Source address of the connection (spreads thousands of devices over several loopback addresses). */
  localAddress?: string;
  /** How often a packet goes out; the records in it are taken evenly over the interval. */
  intervalMs: number;
  recordsPerPacket: number;
  /** No record-count reply within this time: the same packet goes out again. */
  ackTimeoutMs: number;
  /** After this many unanswered resends on one connection, the tracker reconnects. */
  maxResends: number;
  /** A 0xFF byte after this much silence on the connection; 0 = never. */
  heartbeatMs: number;
  /** Connecting plus logging in must finish within this time. */
  loginTimeoutMs: number;
  backoff: BackoffOptions;
  /** How long a cpureset keeps the tracker away. */
  rebootDelayMs: number;
  maxBufferedRecords: number;
  /** Seed-simulator faults: on each interval, P(Poisson(5) ≤ 2) ≈ 12.5 % chance to drop the connection. */
  faults: boolean;
}

export const DEFAULT_TRACKER_SETTINGS: Omit<TrackerSettings, 'host' | 'port'> = {
  intervalMs: 5_000,
  recordsPerPacket: 1,
  ackTimeoutMs: 10_000,
  maxResends: 3,
  heartbeatMs: 60_000,
  loginTimeoutMs: 10_000,
  backoff: { baseMs: 1_000, capMs: 60_000 },
  rebootDelayMs: 3_000,
  maxBufferedRecords: 1_000,
  faults: false,
};

interface InFlight {
  packet: OutgoingPacket;
  /** Sends of this packet on the current connection. */
  sends: number;
  /** Whether it has gone out at all (a packet first sent on an earlier connection is a resend now). */
  everSent: boolean;
}

/**
 * One simulated Teltonika FMB tracker: logs in with its IMEI, takes records from its Vehicle on a
 * timer whether connected or not, sends them as Codec 8E packets one at a time, resends a packet
 * that gets no record-count reply, answers Codec 12/14 commands, and reconnects forever with
 * exponential backoff and full jitter.
 */
export class SimulatedTracker implements Device {
  readonly id: string;
  readonly kind = DEVICE_KIND.TRACKER;
  readonly #settings: TrackerSettings;
  readonly #vehicle: Vehicle;
  readonly #random: Random;
  readonly #stats: FleetStats;
  readonly #log: Logger;
  readonly #buffer: RecordBuffer;
  readonly #backoff: Backoff;
  readonly #parser = new ServerStreamParser();
  /** DOUT1, DOUT2: what setdigout sets and getio reports. */
  readonly #outputs = [0, 0];
  #state: DeviceState = DEVICE_STATE.IDLE;
  #socket: net.Socket | undefined;
  #inFlight: InFlight | undefined;
  #lastSampleAt = 0;
  #bootedAt = Date.now();
  #everLoggedIn = false;
  /** Counted in FleetStats.connected (kept apart from #state, which stop() changes first). */
  #countedOnline = false;
  #rebooting = false;
  #sampleTimer: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #loginTimer: NodeJS.Timeout | undefined;
  #ackTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #closed: Promise<void> = Promise.resolve();

  constructor(deps: {
    imei: string;
    settings: TrackerSettings;
    vehicle: Vehicle;
    random: Random;
    stats: FleetStats;
    log: Logger;
  }) {
    this.id = deps.imei;
    this.#settings = deps.settings;
    this.#vehicle = deps.vehicle;
    this.#random = deps.random;
    this.#stats = deps.stats;
    this.#log = deps.log.child({ deviceId: deps.imei });
    this.#buffer = new RecordBuffer(deps.settings.maxBufferedRecords);
    this.#backoff = new Backoff(deps.settings.backoff);
  }

  get state(): DeviceState {
    return this.#state;
  }

  /** Records taken but not yet acknowledged (including a packet in flight). */
  get unacknowledged(): number {
    return this.#buffer.size + (this.#inFlight?.packet.records ?? 0);
  }

  start(delayMs = 0): void {
    if (this.#state !== DEVICE_STATE.IDLE) return;
    this.#state = DEVICE_STATE.WAITING;
    this.#reconnectTimer = setTimeout(() => {
      this.#lastSampleAt = Date.now();
      this.#scheduleSample();
      this.#connect();
    }, delayMs);
  }

  async stop(): Promise<void> {
    this.#state = DEVICE_STATE.STOPPED;
    for (const timer of [this.#sampleTimer, this.#reconnectTimer, this.#loginTimer, this.#ackTimer]) {
      clearTimeout(timer);
    }
    clearTimeout(this.#heartbeatTimer);
    const socket = this.#socket;
    if (socket && !socket.destroyed) {
      socket.end();
      // A server that never closes its side must not hold the fleet's shutdown.
      setTimeout(() => socket.destroy(), 2_000).unref();
    }
    await this.#closed;
  }

  /** Drops the connection as a network failure would; the tracker reconnects on its own. */
  dropConnection(): void {
    this.#socket?.destroy();
  }

  #connect(): void {
    if (this.#state === DEVICE_STATE.STOPPED) return;
    this.#state = DEVICE_STATE.CONNECTING;
    const { host, port, localAddress } = this.#settings;
    const socket = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    this.#socket = socket;
    this.#parser.reset();
    socket.setNoDelay(true);
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
    this.#loginTimer = setTimeout(() => {
      this.#log.warn('no login reply in time; reconnecting');
      socket.destroy();
    }, this.#settings.loginTimeoutMs);
    socket.once('connect', () => {
      this.#parser.expectLoginReply();
      socket.write(encodeLogin(this.id));
    });
    socket.on('data', (chunk) => this.#parser.push(chunk, (m) => this.#onServerMessage(socket, m)));
    socket.on('error', (err) => this.#log.debug({ err: err.message }, 'socket error'));
    socket.once('close', () => this.#onClose(socket));
  }

  #onServerMessage(socket: net.Socket, message: ServerMessage): void {
    if (socket !== this.#socket) return;
    switch (message.kind) {
      case 'login-reply':
        this.#onLoginReply(message.accepted);
        return;
      case 'ack':
        this.#onAck(message.count);
        return;
      case 'command':
        this.#onCommand(message.message);
        return;
      case 'garbage':
        this.#log.warn({ err: message.error.message }, 'unreadable message from the server');
    }
  }

  #onLoginReply(accepted: boolean): void {
    clearTimeout(this.#loginTimer);
    if (!accepted) {
      // The server closes the connection; #onClose schedules the retry with backoff.
      this.#stats.loginsRefused++;
      this.#log.warn('login refused (is the IMEI registered? see --register)');
      return;
    }
    this.#state = DEVICE_STATE.ONLINE;
    this.#backoff.reset();
    this.#stats.connected++;
    this.#countedOnline = true;
    if (this.#everLoggedIn) this.#stats.reconnects++;
    this.#everLoggedIn = true;
    this.#log.debug('logged in');
    this.#armHeartbeat();
    if (this.#inFlight) this.#inFlight.sends = 0;
    this.#pump();
  }

  #onClose(socket: net.Socket): void {
    if (socket !== this.#socket) return;
    this.#socket = undefined;
    clearTimeout(this.#loginTimer);
    clearTimeout(this.#ackTimer);
    clearTimeout(this.#heartbeatTimer);
    if (this.#countedOnline) this.#stats.connected--;
    this.#countedOnline = false;
    if (this.#state === DEVICE_STATE.STOPPED) return;
    this.#state = DEVICE_STATE.WAITING;
    const delay = this.#rebooting ? this.#settings.rebootDelayMs : this.#backoff.next();
    if (this.#rebooting) this.#bootedAt = Date.now() + delay;
    this.#rebooting = false;
    this.#log.debug({ delayMs: delay, attempt: this.#backoff.attempt }, 'disconnected; reconnecting later');
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  /** Takes the records of one interval, then tries to send. Runs whether or not the tracker is online. */
  #sample(): void {
    const now = Date.now();
    const n = this.#settings.recordsPerPacket;
    const step = Math.max(1, Math.floor((now - this.#lastSampleAt) / n));
    const extraIo = [{ id: 179, width: 1 as const, value: this.#outputs[0] ?? 0 }];
    for (let i = n - 1; i >= 0; i--) {
      this.#vehicle.step(step);
      this.#stats.dropped += this.#buffer.push(this.#vehicle.record(now - i * step, extraIo));
    }
    this.#lastSampleAt = now;
    this.#scheduleSample();
    if (this.#settings.faults && this.#state === DEVICE_STATE.ONLINE && poisson(this.#random, 5) <= 2) {
      this.#stats.faults++;
      this.#log.info('fault injected: dropping the connection');
      this.dropConnection();
      return;
    }
    this.#pump();
  }

  #scheduleSample(): void {
    if (this.#state === DEVICE_STATE.STOPPED) return;
    this.#sampleTimer = setTimeout(() => this.#sample(), this.#settings.intervalMs);
  }

  /** Sends the packet in flight if it has not gone out on this connection, else the next one. */
  #pump(): void {
    if (this.#state !== DEVICE_STATE.ONLINE) return;
    if (!this.#inFlight) {
      const packet = this.#buffer.takePacket(this.#settings.recordsPerPacket);
      if (!packet) return;
      this.#inFlight = { packet, sends: 0, everSent: false };
    }
    if (this.#inFlight.sends === 0) this.#sendInFlight();
  }

  #sendInFlight(): void {
    const inFlight = this.#inFlight!;
    if (inFlight.everSent) this.#stats.resends++;
    else this.#stats.records += inFlight.packet.records;
    inFlight.sends++;
    inFlight.everSent = true;
    this.#write(inFlight.packet.bytes);
    clearTimeout(this.#ackTimer);
    this.#ackTimer = setTimeout(() => this.#onAckTimeout(), this.#settings.ackTimeoutMs);
  }

  #onAckTimeout(): void {
    const inFlight = this.#inFlight;
    if (!inFlight || this.#state !== DEVICE_STATE.ONLINE) return;
    if (inFlight.sends > this.#settings.maxResends) {
      this.#log.warn({ sends: inFlight.sends }, 'no record-count reply after resends; reconnecting');
      this.dropConnection();
      return;
    }
    this.#log.info(
      { records: inFlight.packet.records },
      'no record-count reply in time; sending the packet again',
    );
    this.#sendInFlight();
  }

  #onAck(count: number): void {
    const inFlight = this.#inFlight;
    if (!inFlight || count !== inFlight.packet.records) {
      // Not what was sent: keep the packet; the ack timeout sends it again.
      this.#log.warn({ count, expected: inFlight?.packet.records }, 'unexpected record-count reply');
      return;
    }
    clearTimeout(this.#ackTimer);
    this.#inFlight = undefined;
    this.#stats.acks++;
    this.#stats.ackedRecords += count;
    this.#pump();
  }

  #onCommand(command: TrackerCommand): void {
    if (command.type !== 'command') return;
    this.#stats.commands++;
    if (command.kind === 'codec14' && command.imei.replace(/^0+/, '') !== this.id.replace(/^0+/, '')) {
      this.#log.info({ command: command.text }, 'Codec 14 command for another IMEI refused');
      this.#write(encodeCodec14(this.id, command.text, { type: 'nack' }));
      return;
    }
    const outcome = answerCommand(command.text, {
      imei: this.id,
      bootedAt: this.#bootedAt,
      now: Date.now(),
      vehicle: this.#vehicle.snapshot(),
      outputs: this.#outputs,
    });
    this.#log.info({ command: command.text, answer: outcome.answer }, 'command answered');
    this.#write(
      command.kind === 'codec14'
        ? encodeCodec14(this.id, outcome.answer, { type: 'response' })
        : encodeCodec12(outcome.answer, { type: 'response' }),
    );
    if (outcome.reboot) {
      this.#rebooting = true;
      // end() flushes the answer first, as the real device finishes its reply before restarting.
      this.#socket?.end();
    }
  }

  #write(bytes: Uint8Array): void {
    this.#socket?.write(bytes);
    this.#heartbeatTimer?.refresh();
  }

  #armHeartbeat(): void {
    clearTimeout(this.#heartbeatTimer);
    const every = this.#settings.heartbeatMs;
    if (every <= 0) return;
    this.#heartbeatTimer = setTimeout(() => {
      this.#socket?.write(Uint8Array.of(HEARTBEAT_BYTE));
      this.#heartbeatTimer?.refresh();
    }, every);
  }
}
