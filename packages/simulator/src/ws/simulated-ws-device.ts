import fs from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import type { CommandId, CommandRequestBody } from '@fleetwire/protocol';
import { type Logger, reuseFragmentList } from '@fleetwire/runtime';
import WebSocket from 'ws';
import {
  type DeviceSession,
  EdgeRefusal,
  type HttpTarget,
  refusalOf,
  startSession,
  uploadLog,
} from '../adapters/device-http.ts';
import { Backoff, type BackoffOptions } from '../backoff.ts';
import { DEVICE_KIND, DEVICE_STATE, type Device, type DeviceState } from '../device.ts';
import type { Random } from '../random.ts';
import type { FleetStats } from '../stats.ts';
import {
  type CommandChannel,
  type GatewayActions,
  type GatewayParameters,
  handleCommand,
} from './commands.ts';
import type { CredentialStore } from './credentials.ts';
import { type DeviceLogEntry, DeviceLogFile } from './device-log.ts';
import { FAULT_TICK, FaultInjector } from './faults.ts';
import { type GatewayIdentity, sessionRequestOf } from './identity.ts';
import { GatewaySensors } from './sensors.ts';
import {
  closeFrame,
  commandAckFrame,
  commandResultFrame,
  type EdgeMessage,
  OPEN_FRAME,
  PING_FRAME,
  readEdgeMessage,
  SUBPROTOCOL,
  stateFrame,
  telemetryFrame,
} from './wire.ts';

export interface WsDeviceSettings {
  /** edge-ws base URL (http or https); the WebSocket goes to the same host as ws or wss. */
  url: string;
  /** Source address of both connections (spreads thousands of gateways over loopback addresses). */
  localAddress?: string;
  /** A fleet provisioning key: registers the gateway on first contact when it has no credential yet. */
  provisioningKey?: string;
  /** One telemetry record this often; 0 = none (idle gateways). */
  telemetryIntervalMs: number;
  /** Send status/state (firmware, model, …) once per connection. */
  reportState: boolean;
  /** Ping interval when neither control/accept nor the session names one (the seed's 5 s). */
  heartbeatMs: number;
  /** A message without control/ack after this goes out again (same msgid: the edge de-duplicates). */
  ackTimeoutMs: number;
  /** Each step of connecting (session start, upgrade, control/accept) must finish within this. */
  connectTimeoutMs: number;
  backoff: BackoffOptions;
  /** How long a reboot (the command or an injected failure) keeps the gateway away. */
  rebootDelayMs: number;
  /** Unacknowledged messages kept for resending; the oldest go when full. */
  maxPendingMessages: number;
}

export const DEFAULT_WS_DEVICE_SETTINGS: Omit<WsDeviceSettings, 'url'> = {
  telemetryIntervalMs: 10_000,
  reportState: true,
  heartbeatMs: 5_000,
  ackTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  backoff: { baseMs: 1_000, capMs: 60_000 },
  rebootDelayMs: 3_000,
  maxPendingMessages: 100,
};

/** Callbacks for benchmarks and tests: each connection attempt ends in one of them. */
export interface WsDeviceObserver {
  /** control/accept arrived; `sessionMs` is the session start, `totalMs` session start to accept. */
  accepted?(device: SimulatedWsDevice, timing: { sessionMs: number; totalMs: number; epoch: number }): void;
  /** The attempt failed before control/accept (refused, unreachable, timed out); a retry follows. */
  connectFailed?(device: SimulatedWsDevice, reason: string): void;
}

export interface WsDeviceDeps {
  id: string;
  identity: GatewayIdentity;
  settings: WsDeviceSettings;
  credentials: CredentialStore;
  /** Folder of the gateways' persistent JSON logs (`<id>.json`). */
  logDir: string;
  /** Sensor noise and fault draws (seeded in a fleet, scripted in tests). */
  random: Random;
  stats: FleetStats;
  log: Logger;
  /** Keep-alive agent shared by the fleet for session starts. */
  agent?: http.Agent;
  observer?: WsDeviceObserver;
}

interface Pending {
  frame: Uint8Array;
  sentAt: number;
  acked?: () => void;
}

/** What the next close of the WebSocket leads to. */
const AFTER_CLOSE = { RECONNECT: 'reconnect', REBOOT: 'reboot', POWER_OFF: 'power-off' } as const;
type AfterClose = (typeof AFTER_CLOSE)[keyof typeof AFTER_CLOSE];

/**
 * One simulated WebSocket gateway (docs/websocket-channel.md): starts a session with its credential
 * (or provisions itself with a fleet key and keeps the credential), opens the WebSocket with the
 * bearer token, says control/open and goes online on control/accept; pings every heartbeat, sends
 * telemetry with msgid until acked, answers the seed device's commands, and reconnects forever with
 * exponential backoff and full jitter. Every connection starts a new session.
 */
export class SimulatedWsDevice implements Device {
  readonly id: string;
  readonly kind = DEVICE_KIND.WS;
  readonly identity: GatewayIdentity;
  readonly #settings: WsDeviceSettings;
  readonly #credentials: CredentialStore;
  readonly #logDir: string;
  readonly #random: Random;
  readonly #stats: FleetStats;
  readonly #log: Logger;
  readonly #agent: http.Agent | undefined;
  readonly #observer: WsDeviceObserver | undefined;
  readonly #backoff: Backoff;
  readonly #faults: FaultInjector;
  /** Distinguishes this run's msgids from an earlier process's within the edge's de-duplication window. */
  readonly #bootId = Date.now().toString(36);
  #state: DeviceState = DEVICE_STATE.IDLE;
  #ws: WebSocket | undefined;
  #session: DeviceSession | undefined;
  #epoch = 0;
  #accepted = 0;
  #countedOnline = false;
  #afterClose: AfterClose = AFTER_CLOSE.RECONNECT;
  #seq = 0;
  #pending: Map<string, Pending> | undefined;
  #lastResultAcked: Promise<void> = Promise.resolve();
  #sensors: GatewaySensors | undefined;
  #logFile: DeviceLogFile | undefined;
  #bootedAt = Date.now();
  #reconnectTimer: NodeJS.Timeout | undefined;
  #acceptTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #telemetryTimer: NodeJS.Timeout | undefined;
  #ackTimer: NodeJS.Timeout | undefined;
  #closed: Promise<void> = Promise.resolve();

  constructor(deps: WsDeviceDeps) {
    this.id = deps.id;
    this.identity = deps.identity;
    this.#settings = deps.settings;
    this.#credentials = deps.credentials;
    this.#logDir = deps.logDir;
    this.#random = deps.random;
    this.#stats = deps.stats;
    this.#log = deps.log.child({ deviceId: deps.id });
    this.#agent = deps.agent;
    this.#observer = deps.observer;
    this.#backoff = new Backoff(deps.settings.backoff, deps.random);
    this.#faults = new FaultInjector(deps.random);
  }

  get state(): DeviceState {
    return this.#state;
  }

  /** The epoch of the last accepted connection (0 before the first). */
  get epoch(): number {
    return this.#epoch;
  }

  /** Connections accepted so far. */
  get connections(): number {
    return this.#accepted;
  }

  get faultsEnabled(): boolean {
    return this.#faults.enabled;
  }

  /** Messages sent but not yet acknowledged by the edge. */
  get unacknowledged(): number {
    return this.#pending?.size ?? 0;
  }

  /** The persistent JSON log `get_d_items` writes and `send_logs` uploads. */
  get logFile(): DeviceLogFile {
    this.#logFile ??= new DeviceLogFile(path.join(this.#logDir, `${this.id}.json`));
    return this.#logFile;
  }

  start(delayMs = 0): void {
    if (this.#state !== DEVICE_STATE.IDLE) return;
    this.#state = DEVICE_STATE.WAITING;
    this.#reconnectTimer = setTimeout(() => {
      this.#startTelemetry();
      void this.#connect();
    }, delayMs);
  }

  async stop(): Promise<void> {
    this.#state = DEVICE_STATE.STOPPED;
    for (const timer of [this.#reconnectTimer, this.#acceptTimer, this.#heartbeatTimer, this.#ackTimer]) {
      clearTimeout(timer);
    }
    clearTimeout(this.#telemetryTimer);
    const ws = this.#ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      ws.close(1000, 'stopped');
      // An edge that never answers the close handshake must not hold the fleet's shutdown.
      setTimeout(() => ws.terminate(), 2_000).unref();
    }
    await this.#closed;
  }

  /** Drops the connection as a network failure would; the gateway reconnects on its own. */
  dropConnection(): void {
    this.#ws?.terminate();
  }

  // ---------------------------------------------------------------------------------------------
  // Connecting

  async #connect(): Promise<void> {
    if (this.#state === DEVICE_STATE.STOPPED) return;
    this.#state = DEVICE_STATE.CONNECTING;
    const startedAt = performance.now();
    let session: DeviceSession;
    try {
      session = await this.#startSession();
    } catch (err) {
      this.#onSessionFailure(err as Error);
      return;
    }
    // stop() may have run while the session was being started.
    if (this.#isStopped()) return;
    this.#session = session;
    this.#openSocket(session, startedAt, performance.now() - startedAt);
  }

  #isStopped(): boolean {
    return this.#state === DEVICE_STATE.STOPPED;
  }

  async #startSession(): Promise<DeviceSession> {
    const credential = this.#credentials.get(this.id);
    const body = sessionRequestOf(this.id, this.identity, credential, this.#settings.provisioningKey);
    const session = await startSession(this.#httpTarget(), body);
    if (session.credential) {
      this.#credentials.set(this.id, session.credential);
      this.#log.info('provisioned with the fleet key; credential kept for later sessions');
    }
    return session;
  }

  #onSessionFailure(err: Error): void {
    if (this.#state === DEVICE_STATE.STOPPED) return;
    if (err instanceof EdgeRefusal) this.#onRefused(err, 'session start refused');
    else this.#log.debug({ err: err.message }, 'session start failed');
    this.#observer?.connectFailed?.(this, `session start: ${err.message}`);
    this.#retryLater(this.#backoff.next());
  }

  #onRefused(refusal: EdgeRefusal, what: string): void {
    this.#stats.sessionsRefused++;
    const hasKey = this.#settings.provisioningKey !== undefined;
    if (refusal.code === 'unknown_device' && hasKey && this.#credentials.get(this.id) !== undefined) {
      // The registry no longer knows the device (a reset database): provision it again next time.
      this.#credentials.delete(this.id);
    }
    this.#log.warn(
      { status: refusal.status, error: refusal.code, reason: refusal.message, provisioningKey: hasKey },
      what,
    );
  }

  #openSocket(session: DeviceSession, startedAt: number, sessionMs: number): void {
    // `ws` refuses "protomsg/msgpack" as a subprotocol name (a "/" is not an RFC 7230 token), so the
    // offer goes as a plain header and the answer is checked in #onUpgrade.
    const ws = new WebSocket(this.#connectUrl(session), {
      headers: { authorization: `Bearer ${session.token}`, 'sec-websocket-protocol': SUBPROTOCOL },
      perMessageDeflate: false,
      handshakeTimeout: this.#settings.connectTimeoutMs,
      maxPayload: 1024 * 1024,
      skipUTF8Validation: true,
      ...(this.#settings.localAddress ? { localAddress: this.#settings.localAddress } : {}),
    });
    this.#ws = ws;
    this.#closed = new Promise((resolve) => ws.once('close', () => resolve()));
    ws.once('upgrade', (res) => this.#onUpgrade(ws, res));
    ws.once('unexpected-response', (req, res) => this.#onUpgradeRefused(ws, req, res));
    ws.once('open', () => {
      ws.send(OPEN_FRAME);
      this.#acceptTimer = setTimeout(() => {
        this.#log.warn('no control/accept in time; reconnecting');
        ws.terminate();
      }, this.#settings.connectTimeoutMs);
    });
    const fragments: Buffer[] = [];
    ws.on('message', (data: Buffer, isBinary) => {
      reuseFragmentList(ws, fragments);
      if (ws !== this.#ws) return;
      if (!isBinary) {
        this.#log.warn('text frame from the edge ignored');
        return;
      }
      this.#onFrame(data, startedAt, sessionMs);
    });
    ws.on('error', (err) => this.#log.debug({ err: err.message }, 'websocket error'));
    ws.once('close', (code, reason) => this.#onClose(ws, code, reason.toString()));
  }

  /** The edge must choose protomsg/msgpack; the header is then removed so that `ws` does not refuse it. */
  #onUpgrade(ws: WebSocket, res: http.IncomingMessage): void {
    const chosen = res.headers['sec-websocket-protocol'];
    delete res.headers['sec-websocket-protocol'];
    if (chosen === SUBPROTOCOL) return;
    this.#log.warn({ subprotocol: chosen ?? null }, `the edge did not choose ${SUBPROTOCOL}; closing`);
    ws.terminate();
  }

  #onUpgradeRefused(ws: WebSocket, req: http.ClientRequest, res: http.IncomingMessage): void {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.once('end', () => {
      if (this.#state !== DEVICE_STATE.STOPPED) {
        this.#onRefused(refusalOf(res.statusCode ?? 0, Buffer.concat(chunks).toString()), 'connect refused');
      }
      ws.terminate();
    });
    res.once('error', () => req.destroy());
  }

  #connectUrl(session: DeviceSession): URL {
    const url = new URL(session.connectPath || '/device/v1/connect', this.#settings.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return url;
  }

  #httpTarget(): HttpTarget {
    return {
      baseUrl: new URL(this.#settings.url),
      timeoutMs: this.#settings.connectTimeoutMs,
      ...(this.#agent ? { agent: this.#agent } : {}),
      ...(this.#settings.localAddress ? { localAddress: this.#settings.localAddress } : {}),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Frames from the edge

  #onFrame(data: Buffer, startedAt: number, sessionMs: number): void {
    let message: EdgeMessage;
    try {
      message = readEdgeMessage(data);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'unreadable frame from the edge');
      return;
    }
    switch (message.kind) {
      case 'accept':
        this.#onAccept(message, startedAt, sessionMs);
        return;
      case 'ack':
        this.#onAck(message.msgid);
        return;
      case 'command':
        this.#onCommand(message.request);
        return;
      case 'error':
        this.#log.warn(
          { code: message.code, err: message.err, msgid: message.msgid },
          'control/error from the edge',
        );
        return;
      case 'close':
        this.#log.info({ reason: message.reason }, 'the edge closes the connection');
        return;
      case 'pong':
        return;
      case 'other':
        this.#log.debug({ proto: message.proto, typ: message.typ }, 'frame ignored');
    }
  }

  #onAccept(accept: { heartbeatMs?: number; epoch?: number }, startedAt: number, sessionMs: number): void {
    if (this.#state !== DEVICE_STATE.CONNECTING) return;
    clearTimeout(this.#acceptTimer);
    this.#state = DEVICE_STATE.ONLINE;
    this.#epoch = accept.epoch ?? this.#epoch + 1;
    this.#backoff.reset();
    this.#stats.wsConnected++;
    this.#countedOnline = true;
    if (this.#accepted > 0) this.#stats.reconnects++;
    this.#accepted++;
    this.#log.debug({ epoch: this.#epoch }, 'online');
    this.#observer?.accepted?.(this, {
      sessionMs,
      totalMs: performance.now() - startedAt,
      epoch: this.#epoch,
    });
    this.#startHeartbeat(accept.heartbeatMs ?? this.#session?.heartbeatMs ?? this.#settings.heartbeatMs);
    if (this.#settings.reportState) this.#reportState();
    this.#resendPending(true);
  }

  /**
   * Pings every `everyMs`, the first one at a random point of the first period: gateways that come
   * online together (a simulated fleet started at once, a reconnect wave) would otherwise ping in
   * the same few milliseconds forever, which no real fleet does (each device's clock and boot
   * differ), and would load the edge in bursts instead of evenly.
   */
  #startHeartbeat(everyMs: number): void {
    clearTimeout(this.#heartbeatTimer);
    const firstMs = firstHeartbeatDelay(everyMs, this.#random);
    this.#heartbeatTimer = setTimeout(() => {
      // From now on one timer, refreshed at each ping (see #onHeartbeat).
      this.#heartbeatTimer = setTimeout(() => this.#onHeartbeat(), everyMs);
      this.#onHeartbeat();
    }, firstMs);
  }

  /** A ping, and with fault simulation on, the seed's draw: k ~ Poisson(5), k ≤ 2 fails the system. */
  #onHeartbeat(): void {
    if (this.#state !== DEVICE_STATE.ONLINE) return;
    this.#send(PING_FRAME);
    this.#heartbeatTimer?.refresh();
    const tick = this.#faults.tick();
    if (tick === FAULT_TICK.OFF) return;
    this.#record('warn', 'WARNING: System UNSTABLE manual reboot advised');
    if (tick === FAULT_TICK.FAILURE) {
      this.#stats.faults++;
      this.#record('warn', 'System failure → auto-reboot');
      this.#afterClose = AFTER_CLOSE.REBOOT;
      this.#ws?.terminate();
    }
  }

  #onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.#ws) return;
    this.#ws = undefined;
    this.#session = undefined;
    for (const timer of [this.#acceptTimer, this.#heartbeatTimer, this.#ackTimer]) clearTimeout(timer);
    this.#ackTimer = undefined;
    if (this.#countedOnline) this.#stats.wsConnected--;
    this.#countedOnline = false;
    if (this.#state === DEVICE_STATE.STOPPED) return;
    if (this.#state === DEVICE_STATE.CONNECTING)
      this.#observer?.connectFailed?.(this, `connect: closed ${code} ${reason}`);
    const next = this.#afterClose;
    this.#afterClose = AFTER_CLOSE.RECONNECT;
    if (next === AFTER_CLOSE.POWER_OFF) {
      this.#state = DEVICE_STATE.STOPPED;
      clearTimeout(this.#telemetryTimer);
      this.#log.info('powered off; staying offline');
      return;
    }
    const delay = next === AFTER_CLOSE.REBOOT ? this.#settings.rebootDelayMs : this.#backoff.next();
    if (next === AFTER_CLOSE.REBOOT) this.#bootedAt = Date.now() + delay;
    this.#log.debug({ code, reason, delayMs: delay, next }, 'disconnected; reconnecting later');
    this.#retryLater(delay);
  }

  #retryLater(delayMs: number): void {
    if (this.#state === DEVICE_STATE.STOPPED) return;
    this.#state = DEVICE_STATE.WAITING;
    this.#reconnectTimer = setTimeout(() => void this.#connect(), delayMs);
  }

  // ---------------------------------------------------------------------------------------------
  // Uplink

  #send(frame: Uint8Array): boolean {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(frame);
    return true;
  }

  #nextMsgId(): string {
    return `${this.#bootId}-${++this.#seq}`;
  }

  /** Keeps the message until control/ack; sends it now if online, else after the next accept. */
  #sendReliable(msgid: string, frame: Uint8Array): Promise<void> {
    this.#pending ??= new Map();
    if (this.#pending.size >= this.#settings.maxPendingMessages) {
      const oldest = this.#pending.keys().next().value!;
      this.#pending.delete(oldest);
      this.#stats.dropped++;
    }
    const acked = new Promise<void>((resolve) => {
      this.#pending!.set(msgid, { frame, sentAt: 0, acked: resolve });
    });
    this.#stats.messages++;
    if (this.#state === DEVICE_STATE.ONLINE && this.#send(frame)) {
      this.#pending.get(msgid)!.sentAt = Date.now();
      this.#armAckTimer();
    }
    return acked;
  }

  #onAck(msgid: string): void {
    const entry = this.#pending?.get(msgid);
    if (!entry) return;
    this.#pending!.delete(msgid);
    this.#stats.messageAcks++;
    if (this.#pending!.size === 0) {
      // Nothing left to resend: a fleet answering commands would otherwise hold one 10 s timer per
      // acknowledged result (thousands in a benchmark, each living long enough to be promoted).
      clearTimeout(this.#ackTimer);
      this.#ackTimer = undefined;
    }
    entry.acked?.();
  }

  /** After an accept: everything pending goes out again; on the ack timer: what waited too long. */
  #resendPending(all: boolean): void {
    if (!this.#pending?.size || this.#state !== DEVICE_STATE.ONLINE) return;
    const now = Date.now();
    for (const entry of this.#pending.values()) {
      if (!all && now - entry.sentAt < this.#settings.ackTimeoutMs) continue;
      if (entry.sentAt > 0) this.#stats.resends++;
      if (!this.#send(entry.frame)) return;
      entry.sentAt = now;
    }
    this.#armAckTimer();
  }

  #armAckTimer(): void {
    if (this.#ackTimer !== undefined) return;
    this.#ackTimer = setTimeout(() => {
      this.#ackTimer = undefined;
      this.#resendPending(false);
    }, this.#settings.ackTimeoutMs);
  }

  #startTelemetry(): void {
    const every = this.#settings.telemetryIntervalMs;
    if (every <= 0) return;
    this.#sensors ??= new GatewaySensors(this.#random);
    this.#telemetryTimer = setTimeout(() => {
      this.#sendTelemetry();
      this.#telemetryTimer?.refresh();
    }, every);
  }

  /** Sampled whether online or not: records taken offline wait (up to maxPendingMessages) for the next connection. */
  #sendTelemetry(): void {
    if (this.#state === DEVICE_STATE.STOPPED) return;
    const now = Date.now();
    const attributes = { ...this.#sensors!.sample(now, this.#bootedAt) };
    const msgid = this.#nextMsgId();
    void this.#sendReliable(msgid, telemetryFrame([{ deviceTime: now, attributes }], msgid));
  }

  #reportState(): void {
    const { firmware, model, serial, hwSerial, mac, localIp } = this.identity;
    const attributes = { firmware, model, serial, hwSerial, mac, localIp, epoch: this.#epoch };
    if (this.#send(stateFrame(attributes, Date.now()))) this.#stats.messages++;
  }

  // ---------------------------------------------------------------------------------------------
  // Commands

  #onCommand(request: CommandRequestBody): void {
    this.#stats.commands++;
    // The command lines are info lines: below that level no child logger, no line objects, and the
    // gateway's channel and actions are made once instead of per command (a fleet answering 1,000
    // commands a second made all of them per command, the child logger at every level).
    if (!this.#log.isLevelEnabled('info')) {
      this.#commandChannel ??= this.#channel();
      this.#commandActions ??= this.#actions(this.#log);
      void handleCommand(request, this.#commandChannel, this.#commandActions);
      return;
    }
    const log = this.#log.child({ commandId: request.commandId });
    log.info({ command: request.name }, 'command received');
    void handleCommand(request, this.#channel(), this.#actions(log)).then((outcome) =>
      log.info({ command: request.name, ok: outcome.ok, error: outcome.error }, 'command answered'),
    );
  }

  #commandChannel: CommandChannel | undefined;
  #commandActions: GatewayActions | undefined;

  #channel(): CommandChannel {
    return {
      ack: (commandId: CommandId) => {
        this.#send(commandAckFrame(commandId));
      },
      result: (commandId, outcome) => {
        const msgid = this.#nextMsgId();
        this.#lastResultAcked = this.#sendReliable(msgid, commandResultFrame(commandId, outcome, msgid));
      },
    };
  }

  #actions(log: Logger): GatewayActions {
    return {
      parameters: () => this.#parameters(),
      log: (level, message, fields) => this.#record(level, message, fields, log),
      appendItems: (items) =>
        this.logFile.append({ ...this.#entry('LOG', 'get_d_items'), items, identity: this.#parameters() }),
      uploadLogs: () => this.#uploadLogs(log),
      enableFaults: () => this.#faults.enable(),
      reboot: () => void this.#closeAfterResult(AFTER_CLOSE.REBOOT, 'rebooting'),
      powerOff: () => void this.#closeAfterResult(AFTER_CLOSE.POWER_OFF, 'powered off'),
    };
  }

  #parameters(): GatewayParameters {
    return { deviceId: this.id, ...this.identity, epoch: this.#epoch };
  }

  /** Logs a line and keeps it in the persistent JSON log, as the seed's wrapped console does. */
  #record(level: 'info' | 'warn', message: string, fields?: Record<string, unknown>, log = this.#log): void {
    log[level](fields ?? {}, message);
    this.logFile
      .append({ ...this.#entry(level === 'warn' ? 'WARN' : 'LOG', message), ...fields })
      .catch((err: Error) => this.#log.warn({ err: err.message }, 'could not write the device log'));
  }

  #entry(level: DeviceLogEntry['level'], message: string): DeviceLogEntry {
    return { timestamp: new Date().toISOString(), level, message };
  }

  /** A snapshot of the JSON log, uploaded as multipart field `file`; the temporary copy is always removed. */
  async #uploadLogs(log: Logger): Promise<string> {
    const token = this.#session?.token;
    if (token === undefined) throw new Error('no session to upload with');
    const copy = await this.logFile.snapshot();
    try {
      const uploaded = await uploadLog(this.#httpTarget(), token, copy, `${this.id}-log.json`);
      log.info({ logId: uploaded.logId, sizeBytes: uploaded.sizeBytes }, 'log uploaded');
      return uploaded.logId;
    } finally {
      await fs.rm(copy, { force: true });
    }
  }

  /** Lets the result reach the edge durably (bounded by the ack timeout), then closes the connection. */
  async #closeAfterResult(next: AfterClose, reason: string): Promise<void> {
    const ws = this.#ws;
    if (!ws) return;
    this.#afterClose = next;
    await Promise.race([
      this.#lastResultAcked,
      new Promise((r) => setTimeout(r, this.#settings.ackTimeoutMs).unref()),
    ]);
    if (ws !== this.#ws) return;
    this.#send(closeFrame(reason));
    ws.close(1000, reason);
  }
}

/** When a gateway's first ping after control/accept is due: a uniform phase within one heartbeat. */
export function firstHeartbeatDelay(everyMs: number, random: Random): number {
  return Math.max(1, Math.floor(random() * everyMs));
}
