import { hash } from 'node:crypto';
import type { Socket } from 'node:net';
import {
  closeOrderOf,
  mustClose,
  type PresenceRecorder,
  TAKEOVER_REASON,
  takeOver,
} from '@fleetwire/edge-kit';
import {
  CommandAckBody,
  type CommandId,
  CommandRequestBody,
  ControlErrorBody,
  type DeviceId,
  decodePayload,
  decodeProtoMsg,
  encodeBusMessage,
  encodePayload,
  encodeProtoMsg,
  isDeviceId,
  MSG_TYPE,
  PROTO,
  type ProtoMsg,
  type Subjects,
  TELEMETRY_SOURCE,
  type TenantId,
} from '@fleetwire/protocol';
import type { JetStreamPublisher, Logger } from '@fleetwire/runtime';
import {
  type AvlPacket,
  type Codec12Message,
  type Codec13Message,
  type Codec14Message,
  decodeDataFrame,
  decodeLogin,
  encodeCodec12,
  encodeCodec14,
  encodeLoginReply,
  encodeRecordCountAck,
  type Frame,
  isTeltonikaError,
  TeltonikaFramer,
} from '@fleetwire/teltonika';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { EdgeTcpMetrics } from './metrics.ts';
import { readIntoSharedBuffer } from './socket-reads.ts';
import { encodeTelemetryMessage } from './telemetry-message.ts';

export interface ConnectionDeps {
  tenant: TenantId;
  subjects: Subjects;
  nc: NatsConnection;
  publisher: JetStreamPublisher;
  registry: { mayLogin(tenant: string, imei: string): Promise<boolean> };
  presence: PresenceRecorder;
  metrics: EdgeTcpMetrics;
  log: Logger;
  config: { maxFrameBytes: number; idleTimeoutMs: number; loginTimeoutMs: number; commandTimeoutMs: number };
}

/** Downlink error codes (ControlErrorBody.code), HTTP-like as in Mender's channel. */
export const DOWNLINK_ERROR = { BAD_REQUEST: 400, BUSY: 409, UNSUPPORTED: 422, WRITE_FAILED: 503 } as const;

interface InFlightCommand {
  commandId: CommandId;
  timer: NodeJS.Timeout;
}

/** An accepted AVL packet waiting for its PubAck; replies leave in packet order. */
interface PendingReply {
  readonly records: number;
  readonly startedAt: number;
  outcome: 'waiting' | 'durable' | 'failed';
  error?: Error;
}

/** The 4-byte record-count replies (a count is one byte on the wire), built once and shared. */
const RECORD_COUNT_ACKS: readonly Buffer[] = Array.from({ length: 256 }, (_, count) =>
  Buffer.from(encodeRecordCountAck(count)),
);

function recordCountAck(count: number): Buffer {
  return RECORD_COUNT_ACKS[count] ?? Buffer.from(encodeRecordCountAck(count));
}

/**
 * One tracker connection: login against the registry, AVL packets published to JetStream and
 * acknowledged only once stored, Codec 12/13/14 messages routed without acknowledgement, and at most
 * one downlink command in flight. The socket is the only thing it writes to.
 */
export class TrackerConnection {
  readonly #socket: Socket;
  readonly #deps: ConnectionDeps;
  readonly #framer: TeltonikaFramer;
  #log: Logger;
  #deviceId: DeviceId | undefined;
  #epoch: number | undefined;
  #downlink: Subscription | undefined;
  #inFlight: InFlightCommand | undefined;
  /** Replies go out in packet order even though publishes complete in any order. */
  #replies: PendingReply[] = [];
  #settledWaiters: Array<() => void> = [];
  /** `up.<device>.telemetry`, built once the device is known. */
  #telemetrySubject = '';
  #loginPending = false;
  #queued: Frame[] = [];
  #closed = false;
  #closeReason = 'closed by device';
  readonly #loginTimer: NodeJS.Timeout;

  constructor(socket: Socket, deps: ConnectionDeps) {
    this.#socket = socket;
    this.#deps = deps;
    this.#framer = new TeltonikaFramer({ maxDataLength: deps.config.maxFrameBytes });
    this.#log = deps.log.child({ remote: `${socket.remoteAddress}:${socket.remotePort}` });
    socket.setNoDelay(true);
    socket.setTimeout(deps.config.idleTimeoutMs, () => this.close('idle timeout'));
    this.#loginTimer = setTimeout(() => this.close('no login in time'), deps.config.loginTimeoutMs);
    readIntoSharedBuffer(socket, (chunk) => this.#onData(chunk));
    socket.on('error', (err) => this.#log.debug({ err: err.message }, 'socket error'));
    socket.on('close', () => void this.#onClose());
    deps.metrics.connections.inc();
  }

  get deviceId(): DeviceId | undefined {
    return this.#deviceId;
  }

  /** Resolves once every accepted packet has been answered or given up on. */
  settled(): Promise<void> {
    if (this.#replies.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#settledWaiters.push(resolve));
  }

  close(reason: string): void {
    if (this.#closed) return;
    this.#closeReason = reason;
    this.#socket.destroy();
  }

  /** `chunk` is only valid during this call (see readIntoSharedBuffer). */
  #onData(chunk: Uint8Array): void {
    for (const frame of this.#framer.push(chunk)) {
      if (this.#loginPending) this.#queued.push(detached(frame));
      else this.#onFrame(frame);
    }
  }

  #onFrame(frame: Frame): void {
    switch (frame.kind) {
      case 'heartbeat':
        this.#deps.metrics.heartbeats.inc();
        return;
      case 'error':
        this.#deps.metrics.packets.inc({ outcome: frame.error.code.toLowerCase() });
        this.#log.warn(
          { deviceId: this.#deviceId, code: frame.error.code, err: frame.error.message },
          'framing error',
        );
        this.close(`framing error: ${frame.error.code}`);
        return;
      case 'login':
        void this.#login(frame.bytes);
        return;
      case 'data':
        if (!this.#deviceId) {
          this.#log.warn('data before login');
          this.close('data before login');
          return;
        }
        this.#onDataFrame(frame.bytes);
    }
  }

  async #login(bytes: Uint8Array): Promise<void> {
    if (this.#deviceId) {
      this.close('second login on one connection');
      return;
    }
    let imei: string;
    try {
      imei = decodeLogin(bytes);
    } catch (err) {
      this.#deps.metrics.logins.inc({ result: 'malformed' });
      this.#log.warn({ err: (err as Error).message }, 'malformed login');
      this.#socket.write(encodeLoginReply(false));
      this.close('malformed login');
      return;
    }
    this.#loginPending = true;
    this.#socket.pause();
    try {
      const known = isDeviceId(imei) && (await this.#deps.registry.mayLogin(this.#deps.tenant, imei));
      if (this.#closed) return;
      if (!known) {
        this.#deps.metrics.logins.inc({ result: 'unknown' });
        this.#log.warn({ deviceId: imei }, 'login refused: unknown IMEI');
        this.#socket.end(encodeLoginReply(false));
        this.#closeReason = 'unknown device';
        return;
      }
      await this.#goOnline(imei as DeviceId);
      if (this.#closed || this.#socket.destroyed) return;
      this.#socket.write(encodeLoginReply(true));
      this.#deps.metrics.logins.inc({ result: 'accepted' });
      this.#log.info({ epoch: this.#epoch }, 'tracker online');
    } catch (err) {
      this.#deps.metrics.logins.inc({ result: 'error' });
      this.#log.error({ deviceId: imei, err }, 'login failed');
      this.close('login failed');
      return;
    } finally {
      this.#loginPending = false;
    }
    clearTimeout(this.#loginTimer);
    this.#socket.resume();
    const queued = this.#queued;
    this.#queued = [];
    for (const frame of queued) this.#onFrame(frame);
  }

  async #goOnline(deviceId: DeviceId): Promise<void> {
    const { tenant } = this.#deps;
    this.#deviceId = deviceId;
    this.#telemetrySubject = this.#deps.subjects.up(tenant, deviceId, 'telemetry');
    this.#log = this.#log.child({ deviceId });
    const { epoch, downlink, current } = await takeOver(this.#deps, tenant, deviceId, (_err, msg) =>
      this.#onDownlink(msg),
    );
    if (this.#closed) {
      // The tracker left while we were taking over: undo what #onClose could not see yet.
      downlink.unsubscribe();
      await this.#deps.presence.offline(tenant, deviceId, epoch, this.#closeReason);
      return;
    }
    this.#epoch = epoch;
    this.#downlink = downlink;
    if (!current) this.close(TAKEOVER_REASON);
  }

  #onDataFrame(bytes: Uint8Array): void {
    let decoded: ReturnType<typeof decodeDataFrame>;
    try {
      decoded = decodeDataFrame(bytes);
    } catch (err) {
      // Not acknowledged: the tracker sends the packet again.
      const code = isTeltonikaError(err) ? err.code : 'UNEXPECTED';
      this.#deps.metrics.packets.inc({ outcome: code.toLowerCase() });
      this.#log.warn({ code, err: (err as Error).message }, 'invalid packet not acknowledged');
      return;
    }
    switch (decoded.kind) {
      case 'avl':
        this.#onAvl(decoded, bytes);
        return;
      case 'codec12':
      case 'codec14':
        this.#onCommandResponse(decoded);
        return;
      case 'codec13':
        this.#onDeviceMessage(decoded);
    }
  }

  #onAvl(packet: AvlPacket, frame: Uint8Array): void {
    const startedAt = performance.now();
    const { tenant, publisher, metrics } = this.#deps;
    const deviceId = this.#deviceId!;
    let bytes: Uint8Array;
    try {
      // The tenant was parsed at start, the IMEI checked with isDeviceId at login.
      bytes = encodeTelemetryMessage(tenant, deviceId, packet, Date.now(), true);
    } catch (err) {
      metrics.packets.inc({ outcome: 'unrepresentable' });
      this.#log.error(
        { err: (err as Error).message },
        'packet decoded but not representable; not acknowledged',
      );
      return;
    }
    // A retransmission of the same bytes gets the same id, so the stream drops it inside its window.
    // Dropping the id would save nats-server its duplicate map, but on flaky links retransmissions
    // are common: each would reach backend consumers twice and send a whole batch of the writer
    // from its COPY to the exact `on conflict` path.
    const msgId = `${tenant}:${deviceId}:${hash('sha1', frame, 'base64url')}`;
    const reply: PendingReply = { records: packet.ack, startedAt, outcome: 'waiting' };
    this.#replies.push(reply);
    publisher.send(this.#telemetrySubject, bytes, msgId, (err) => {
      reply.outcome = err ? 'failed' : 'durable';
      reply.error = err;
      this.#sendReplies();
    });
  }

  /**
   * Answers the packets at the head of the queue whose publish has completed, in order, with one
   * socket write for all of them. A failed publish is not answered (the tracker sends it again).
   */
  #sendReplies(): void {
    const replies = this.#replies;
    let answered = 0;
    let records = 0;
    const ready: Buffer[] = [];
    const now = performance.now();
    const { metrics } = this.#deps;
    for (; answered < replies.length && replies[answered]!.outcome !== 'waiting'; answered++) {
      const reply = replies[answered]!;
      if (reply.outcome === 'failed') {
        this.#notAcknowledged(reply);
        continue;
      }
      if (this.#closed) continue;
      ready.push(recordCountAck(reply.records));
      records += reply.records;
      metrics.ackLatency.observe((now - reply.startedAt) / 1000);
    }
    if (answered === 0) return;
    replies.splice(0, answered);
    if (ready.length > 0) {
      this.#socket.write(ready.length === 1 ? ready[0]! : Buffer.concat(ready));
      metrics.ackedPackets.inc(ready.length);
      metrics.records.inc(records);
    }
    if (replies.length === 0) for (const resolve of this.#settledWaiters.splice(0)) resolve();
  }

  #notAcknowledged(reply: PendingReply): void {
    this.#deps.metrics.packets.inc({ outcome: 'not_durable' });
    this.#log.warn({ err: reply.error?.message }, 'publish failed; packet not acknowledged');
  }

  #onCommandResponse(msg: Codec12Message | Codec14Message): void {
    if (msg.type === 'command') {
      this.#log.warn({ codec: msg.kind }, 'tracker sent a command frame; ignored');
      return;
    }
    const commandId = this.#inFlight?.commandId;
    this.#clearInFlight();
    const ok = msg.kind === 'codec12' || msg.type === 'response';
    const reply = {
      tenant: this.#deps.tenant,
      deviceId: this.#deviceId!,
      ...(commandId ? { commandId } : {}),
      text: msg.text,
      ok,
      ...(ok ? {} : { error: 'nACK: the tracker refused the command (IMEI mismatch)' }),
      receivedAt: Date.now(),
    };
    this.#publishUp('reply', encodeBusMessage(PROTO.COMMAND, MSG_TYPE.COMMAND.REPLY, reply), { commandId });
  }

  #onDeviceMessage(msg: Codec13Message): void {
    const event = {
      tenant: this.#deps.tenant,
      deviceId: this.#deviceId!,
      source: TELEMETRY_SOURCE.TELTONIKA,
      receivedAt: Date.now(),
      code: 'codec13',
      at: msg.timestamp,
      message: msg.text.slice(0, 1024),
    };
    this.#publishUp('event', encodeBusMessage(PROTO.EVENT, MSG_TYPE.EVENT.EVENT, event), {});
  }

  #publishUp(kind: 'reply' | 'event', bytes: Uint8Array, context: { commandId?: string }): void {
    const { tenant, subjects, publisher } = this.#deps;
    publisher.publish(subjects.up(tenant, this.#deviceId!, kind), bytes).then(
      () => this.#log.info({ ...context, kind }, 'tracker message published'),
      (err: Error) =>
        this.#log.error({ ...context, kind, err: err.message }, 'tracker message could not be published'),
    );
  }

  #onDownlink(msg: Msg): void {
    let request: ProtoMsg;
    try {
      request = decodeProtoMsg(msg.data, { maxFrameBytes: 65_536 });
    } catch (err) {
      this.#respondError(msg, DOWNLINK_ERROR.BAD_REQUEST, (err as Error).message);
      return;
    }
    const order = closeOrderOf(request);
    if (order) {
      if (this.#epoch !== undefined && mustClose(order, this.#epoch))
        this.close(order.reason ?? TAKEOVER_REASON);
      return;
    }
    if (request.hdr.proto !== PROTO.COMMAND || request.hdr.typ !== MSG_TYPE.COMMAND.REQUEST) {
      this.#respondError(msg, DOWNLINK_ERROR.UNSUPPORTED, 'trackers accept only COMMAND/request');
      return;
    }
    this.#sendCommand(msg, request);
  }

  #sendCommand(msg: Msg, request: ProtoMsg): void {
    const { metrics, config } = this.#deps;
    let body: CommandRequestBody;
    try {
      body = decodePayload(request.body, CommandRequestBody);
    } catch (err) {
      this.#respondError(msg, DOWNLINK_ERROR.BAD_REQUEST, (err as Error).message);
      return;
    }
    const log = this.#log.child({ commandId: body.commandId });
    const frame = encodeTrackerCommand(body, this.#deviceId!);
    if (typeof frame === 'string') {
      metrics.commands.inc({ outcome: 'unsupported' });
      this.#respondError(msg, DOWNLINK_ERROR.UNSUPPORTED, frame);
      return;
    }
    // The downlink is subscribed before the login reply goes out: a command written now would reach
    // the tracker ahead of its login byte. Ask the dispatcher to come back shortly instead.
    if (this.#loginPending) {
      metrics.commands.inc({ outcome: 'busy' });
      this.#respondError(msg, DOWNLINK_ERROR.BUSY, 'tracker login still in progress');
      return;
    }
    if (this.#inFlight) {
      metrics.commands.inc({ outcome: 'busy' });
      this.#respondError(msg, DOWNLINK_ERROR.BUSY, `command ${this.#inFlight.commandId} is still in flight`);
      return;
    }
    if (this.#closed || !this.#socket.writable) {
      this.#respondError(msg, DOWNLINK_ERROR.WRITE_FAILED, 'connection closing');
      return;
    }
    this.#socket.write(frame);
    const timer = setTimeout(() => {
      log.warn('no response to command in time; the next command may go out');
      this.#inFlight = undefined;
    }, config.commandTimeoutMs);
    this.#inFlight = { commandId: body.commandId, timer };
    metrics.commands.inc({ outcome: 'sent' });
    log.info({ name: body.name }, 'command sent to tracker');
    msg.respond(
      encodeProtoMsg({
        hdr: { proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.ACK },
        body: encodePayload(CommandAckBody, { commandId: body.commandId }),
      }),
    );
  }

  #respondError(msg: Msg, code: number, err: string): void {
    this.#log.info({ code, err }, 'downlink refused');
    if (!msg.reply) return;
    msg.respond(
      encodeProtoMsg({
        hdr: { proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.ERROR },
        body: encodePayload(ControlErrorBody, { err, close: false, code }),
      }),
    );
  }

  #clearInFlight(): void {
    if (this.#inFlight) clearTimeout(this.#inFlight.timer);
    this.#inFlight = undefined;
  }

  async #onClose(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#loginTimer);
    this.#clearInFlight();
    this.#downlink?.unsubscribe();
    const { metrics, presence, tenant } = this.#deps;
    metrics.connections.dec();
    metrics.closes.inc({ reason: this.#closeReason.split(':')[0]! });
    if (this.#deviceId === undefined || this.#epoch === undefined) return;
    this.#log.info({ reason: this.#closeReason }, 'tracker offline');
    await presence
      .offline(tenant, this.#deviceId, this.#epoch, this.#closeReason)
      .catch((err: Error) => this.#log.warn({ err: err.message }, 'offline event not recorded'));
  }
}

/** A frame whose bytes no longer alias the shared read buffer, for frames kept past the read. */
function detached(frame: Frame): Frame {
  // new Uint8Array(view) copies; a Buffer's slice() would not.
  return frame.kind === 'login' || frame.kind === 'data'
    ? { kind: frame.kind, bytes: new Uint8Array(frame.bytes) }
    : frame;
}

/** Codec 12 by default; Codec 14 (addressed by IMEI, refused by a tracker with another IMEI) on request. */
function encodeTrackerCommand(body: CommandRequestBody, imei: string): Uint8Array | string {
  const text = body.args?.text;
  if (typeof text !== 'string' || text.length === 0 || text.length > 4096) {
    return 'tracker commands need args.text (1-4096 characters)';
  }
  switch (body.name) {
    case 'codec12':
      return encodeCodec12(text, { type: 'command' });
    case 'codec14':
      return encodeCodec14(imei, text, { type: 'command' });
    default:
      return `trackers understand the command names codec12 and codec14, not ${body.name}`;
  }
}
