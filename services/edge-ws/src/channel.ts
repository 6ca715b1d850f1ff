import {
  announceClaim,
  type Claim,
  type CloseOrder,
  claimDevice,
  closeOrderOf,
  type DownlinkSubscription,
  isRevocation,
  mustClose,
  type PresenceRecorder,
  TAKEOVER_REASON,
} from '@fleetwire/edge-kit';
import {
  CommandAckBody,
  CommandRequestBody,
  ControlAcceptBody,
  ControlCloseBody,
  ControlErrorBody,
  ControlOpenBody,
  type DeviceId,
  decodePayload,
  decodeProtoMsg,
  encodePayload,
  encodePayloadScratch,
  encodeProtoMsg,
  encodeProtoMsgScratch,
  isProtocolError,
  MSG_TYPE,
  PROTO,
  type ProtoMsg,
  type Subjects,
  type TenantId,
  UP_KIND,
  type UpKind,
} from '@fleetwire/protocol';
import { type JetStreamPublisher, type Logger, reuseFragmentList } from '@fleetwire/runtime';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { WebSocket } from 'ws';
import { type RateLimit, TokenBucket, ViolationWindow } from './domain/limits.ts';
import type { DeviceSession } from './domain/sessions.ts';
import { routeUplink, type Uplink } from './domain/uplink.ts';
import { binaryFrame, directSocketOf, MAX_DIRECT_PAYLOAD, type WsInternals } from './frames.ts';
import type { EdgeWsMetrics } from './metrics.ts';

/** What every channel of one edge shares (one object, so a channel costs only its own fields). */
export interface ChannelContext {
  nc: NatsConnection;
  subjects: Subjects;
  publisher: JetStreamPublisher;
  presence: PresenceRecorder;
  metrics: EdgeWsMetrics;
  log: Logger;
  maxFrameBytes: number;
  rate: RateLimit;
  handshakeTimeoutMs: number;
  /** A command is refused (503) while more than this many bytes wait to be written to the device. */
  maxBufferedBytes: number;
  /** The socket is gone: the edge forgets the channel. */
  released(channel: DeviceChannel): void;
  /** Presence updates still in flight, so that a drain can wait for them. */
  track(work: Promise<unknown>): void;
  /**
   * Runs `work` with the other work queued in this event-loop turn, in one `setImmediate`: the NATS
   * commands they issue (the down-subject subscriptions of every device going online) then leave
   * in one socket write instead of one per device.
   */
  inTurn(work: () => void): void;
}

/**
 * The ws library builds our sockets (WebSocketServer option `WebSocket`), so a socket can name its
 * channel. ws reports everything about a socket through `emit`, and the channel is its only listener:
 * events go straight to it, so a socket carries no listener table (an EventEmitter's `_events`
 * dictionary, a few hundred bytes per connection).
 */
export class DeviceSocket extends WebSocket {
  channel: DeviceChannel | undefined = undefined;

  /**
   * ws (8.x) gives every socket its own `{}` of negotiated extensions, which stays empty without
   * permessage-deflate (the server disables it; ws replaces the object, never writes to it, when
   * an extension is negotiated): one shared empty object instead.
   */
  _extensions: object = NO_EXTENSIONS;

  /**
   * Node's EventEmitter gives every emitter a null-prototype `{}` listener table (a dictionary-mode
   * object, about 180 bytes), which stays empty here (see `emit`). EventEmitter treats an undefined
   * table as empty and makes one only when a listener is added.
   */
  _events: undefined = undefined;

  /**
   * ws (8.x) stores a closure per socket for its auto-pong write callback; as a prototype accessor
   * ws's assignment is dropped and the callback is made only when a WebSocket ping is answered.
   */
  get _autoPongComplete(): () => void {
    return () => {
      (this as unknown as WsAutoPong)._pendingAutoPongs--;
    };
  }

  set _autoPongComplete(_ignored: () => void) {}

  /**
   * The array ws's receiver collects a message's fragments in, one per socket for good, so that
   * frames die young (reuseFragmentList says why). Before, about a fifth of what the edge allocated
   * survived each scavenge, and the pauses grew with it.
   */
  readonly #fragments: Buffer[] = [];

  /**
   * Sends one binary message, framed here and written at once when ws's sender allows it. Without
   * a prebuilt `frame`, `message` may be a scratch view (encodeProtoMsgScratch): it is copied (into
   * the frame, or for ws, which may queue it) before this returns.
   */
  sendBinary(message: Uint8Array, frame?: Buffer): void {
    const socket =
      message.length <= MAX_DIRECT_PAYLOAD ? directSocketOf(this as unknown as WsInternals) : undefined;
    if (socket) socket.write(frame ?? binaryFrame(message));
    else this.send(frame ? message : message.slice());
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    const channel = this.channel;
    switch (event) {
      case 'message':
        // binaryType is 'nodebuffer': a message is one Buffer, fragments already joined, so the
        // fragment list may be emptied before the message is handled (see #fragments).
        reuseFragmentList(this, this.#fragments);
        channel?.receive(args[0] as Buffer, args[1] as boolean);
        return true;
      case 'ping':
        channel?.touch();
        return true;
      case 'close':
        channel?.socketClosed(args[0] as number);
        return true;
      case 'error':
        channel?.socketFailed(args[0] as Error);
        return true;
      default:
        return super.emit(event, ...args);
    }
  }
}

/** Shared by every socket: see `DeviceSocket._extensions`. */
const NO_EXTENSIONS = Object.freeze({});
interface WsAutoPong {
  _pendingAutoPongs: number;
}

/** Why connections end: the metric label, the text for presence and control/close, the close code. */
export const CLOSE = {
  DEVICE: { label: 'device', text: 'closed by device', code: 1000 },
  LOST: { label: 'lost', text: 'connection lost', code: 1006 },
  TAKEOVER: { label: 'takeover', text: TAKEOVER_REASON, code: 4001 },
  REVOKED: { label: 'revoked', text: 'session revoked', code: 1000 },
  HEARTBEAT: { label: 'heartbeat', text: 'heartbeat timeout', code: 1001 },
  HANDSHAKE: { label: 'handshake', text: 'no control/open in time', code: 1008 },
  VERSION: { label: 'version', text: 'handshake rejected: require version 1', code: 1002 },
  LIMITS: { label: 'limits', text: 'too many limit violations', code: 4008 },
  SHUTDOWN: { label: 'shutdown', text: 'edge shutting down', code: 1001 },
  LEASE_LOST: { label: 'lease_lost', text: 'edge lost its lease: reconnect', code: 1012 },
  FAILED: { label: 'error', text: 'the edge could not bring the device online', code: 1011 },
} as const;
export type CloseReason = (typeof CLOSE)[keyof typeof CLOSE];

const STATE = { OPENING: 0, ACCEPTING: 1, OPEN: 2, CLOSED: 3 } as const;
type State = (typeof STATE)[keyof typeof STATE];

/** fleetwire protos a device may use, announced in control/accept. */
const PROTOCOLS = [PROTO.TELEMETRY, PROTO.EVENT, PROTO.STATUS, PROTO.COMMAND, PROTO.LOG];
/** The body of every control/accept (only its header props differ per connection). */
const ACCEPT_BODY = encodePayload(ControlAcceptBody, { version: 1, protocols: PROTOCOLS });
const PONG = encodeProtoMsg({ hdr: { proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.PONG } });
/** Every pong is the same WebSocket frame: framed once. */
const PONG_FRAME = binaryFrame(PONG);
/** control/ping as fleetwire's encoder (and so the simulator) writes it. */
const PING = Buffer.from(encodeProtoMsg({ hdr: { proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.PING } }));
const CONTROL_FRAME = { proto: 'control' } as const;
/** Metric labels per proto, made once (a label object per frame was garbage per frame). */
const PROTO_LABEL: Readonly<Record<number, { proto: string }>> = {
  [PROTO.CONTROL]: CONTROL_FRAME,
  [PROTO.TELEMETRY]: { proto: 'telemetry' },
  [PROTO.EVENT]: { proto: 'event' },
  [PROTO.STATUS]: { proto: 'status' },
  [PROTO.COMMAND]: { proto: 'command' },
  [PROTO.LOG]: { proto: 'log' },
};
const OTHER_PROTO = { proto: 'other' } as const;
const INVALID_FRAME = { proto: 'invalid' } as const;
const COMMAND_OUTCOME = {
  SENT: { outcome: 'sent' },
  BAD_REQUEST: { outcome: 'bad_request' },
  CLOSING: { outcome: 'closing' },
  BACKLOGGED: { outcome: 'backlogged' },
} as const;
/** The envelope of every command written to a device (its body is the request's, see #sendCommand). */
const COMMAND_REQUEST_HDR = { proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.REQUEST } as const;
const COMMAND_ACK_HDR = { proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.ACK } as const;
/** How long after going online a connection repeats its close order (a cluster's interest has spread by then). */
const REANNOUNCE_AFTER_MS = 1_000;
/** Close-frame reasons are limited to 123 bytes. */
const MAX_CLOSE_REASON = 123;
const DOWNLINK_MAX_BYTES = 1024 * 1024;

export const DOWNLINK_ERROR = { BAD_REQUEST: 400, UNSUPPORTED: 422, UNAVAILABLE: 503 } as const;

/**
 * One device connection. It holds only what is its own (socket, ids, epoch, two clocks, two tiny
 * limiters, one NATS subscription); timers are the edge's sweep and logging goes through the
 * shared logger with `deviceId` fields, so thousands of idle channels stay cheap.
 */
export class DeviceChannel {
  readonly #ws: DeviceSocket;
  readonly #ctx: ChannelContext;
  // The session's fields the channel needs, not the session object (whose sessionId it never reads).
  readonly #tenant: TenantId;
  readonly #deviceId: DeviceId;
  readonly #heartbeatMs: number;
  readonly #connectedAt: number;
  #lastSeenAt: number;
  #state: State = STATE.OPENING;
  #epoch = 0;
  #downlink: DownlinkSubscription | undefined;
  readonly #bucket: TokenBucket;
  /** Made at the first violation: most devices never have one. */
  #violations: ViolationWindow | undefined;
  /** Frames that arrived with control/open, before the device was online (rare, short-lived). */
  #early: Buffer[] | undefined;
  /** The newest close order that arrived while our own epoch was not known yet. */
  #pendingOrder: CloseOrder | undefined;
  /** When the sweep repeats this connection's close order (0: done), see `announceClaim`. */
  #reannounceAt = 0;
  /** `up.<device>.reply`, made at the first command answer: two answers per command otherwise built it twice. */
  #replySubject: string | undefined;

  constructor(ws: DeviceSocket, session: DeviceSession, ctx: ChannelContext, now = Date.now()) {
    this.#ws = ws;
    this.#ctx = ctx;
    this.#tenant = session.tenant;
    this.#deviceId = session.deviceId;
    this.#heartbeatMs = session.heartbeatMs;
    this.#connectedAt = now;
    this.#lastSeenAt = now;
    this.#bucket = new TokenBucket(ctx.rate, now);
    ws.channel = this;
  }

  get deviceId(): string {
    return this.#deviceId;
  }

  /** Called by the edge's sweep: enforces the handshake timeout and the read deadline. */
  checkDeadlines(now: number): void {
    if (this.#state === STATE.OPENING && now - this.#connectedAt > this.#ctx.handshakeTimeoutMs) {
      this.close(CLOSE.HANDSHAKE);
    } else if (this.#state === STATE.OPEN && now - this.#lastSeenAt > 3 * this.#heartbeatMs) {
      // Three heartbeats of silence: the device is gone (or cannot reach us); no close handshake.
      this.terminate(CLOSE.HEARTBEAT);
    } else if (this.#state === STATE.OPEN && this.#reannounceAt !== 0 && now >= this.#reannounceAt) {
      this.#reannounceAt = 0;
      const tenant = this.#tenant;
      const deviceId = this.#deviceId;
      announceClaim(this.#ctx.nc, this.#ctx.subjects, tenant, deviceId, this.#epoch);
    }
  }

  /** Any inbound frame, WebSocket pings included, proves the device is alive. */
  touch(now = Date.now()): void {
    this.#lastSeenAt = now;
  }

  receive(data: Buffer, isBinary: boolean): void {
    const now = Date.now();
    this.#lastSeenAt = now;
    if (this.#state === STATE.CLOSED) return;
    if (this.#state === STATE.ACCEPTING && isBinary) {
      this.#early ??= [];
      this.#early.push(data);
      // A device that does not wait for its accept is held back in the socket, not in memory.
      if (this.#early.length >= this.#ctx.rate.burst) this.#ws.pause();
      return;
    }
    if (!isBinary) {
      this.#sendError(400, 'text frames are not accepted: send binary ProtoMsg frames');
      return;
    }
    if (data.length > this.#ctx.maxFrameBytes) {
      this.#violation(413, `frame of ${data.length} bytes exceeds ${this.#ctx.maxFrameBytes}`, now);
      return;
    }
    if (!this.#bucket.take(this.#ctx.rate, now)) {
      this.#violation(429, `over the rate limit of ${this.#ctx.rate.ratePerSec} messages per second`, now);
      return;
    }
    // Heartbeats are most of what an idle fleet sends: a ping in the usual bytes is answered without
    // decoding it (no envelope objects per heartbeat, less GC); any other encoding takes the full path.
    if (this.#state === STATE.OPEN && data.length === PING.length && data.equals(PING)) {
      this.#ctx.metrics.frames.inc(CONTROL_FRAME);
      this.#send(PONG, PONG_FRAME);
      return;
    }
    let msg: ProtoMsg;
    try {
      msg = decodeProtoMsg(data, { maxFrameBytes: this.#ctx.maxFrameBytes });
    } catch (err) {
      this.#ctx.metrics.frames.inc(INVALID_FRAME);
      this.#sendError(400, isProtocolError(err) ? err.message : 'undecodable frame');
      return;
    }
    this.#ctx.metrics.frames.inc(PROTO_LABEL[msg.hdr.proto] ?? OTHER_PROTO);
    if (msg.hdr.proto === PROTO.CONTROL) this.#onControl(msg);
    else if (this.#state === STATE.OPEN) this.#onUplink(msg, now);
    else this.#sendError(400, 'send control/open first', msg);
  }

  /** Ends the connection from our side: tell the device why, then the WebSocket close handshake. */
  close(reason: CloseReason, text: string = reason.text): void {
    if (this.#state === STATE.CLOSED) return;
    this.#sendControlClose(text);
    this.#closeSocket(reason, text);
  }

  #closeSocket(reason: CloseReason, text: string = reason.text): void {
    // A paused socket would not read the device's close frame, and the close would wait for its timeout.
    if (this.#ws.isPaused) this.#ws.resume();
    this.#ws.close(reason.code, truncate(text));
    this.#finish(reason, text);
  }

  /** Ends the connection without a close handshake (the peer is not answering anyway). */
  terminate(reason: CloseReason): void {
    this.#finish(reason, reason.text);
    this.#ws.terminate();
  }

  /** The socket closed (either side): the last thing that happens to a channel. */
  socketClosed(code: number): void {
    // 1006: the connection ended without a close frame.
    this.#finish(code === 1006 ? CLOSE.LOST : CLOSE.DEVICE);
    this.#ws.channel = undefined;
    this.#ctx.released(this);
  }

  socketFailed(err: Error): void {
    this.#ctx.log.debug({ deviceId: this.deviceId, err: err.message }, 'socket error');
  }

  #onControl(msg: ProtoMsg): void {
    switch (msg.hdr.typ) {
      case MSG_TYPE.CONTROL.PING:
        this.#send(PONG, PONG_FRAME);
        return;
      case MSG_TYPE.CONTROL.PONG:
        return;
      case MSG_TYPE.CONTROL.OPEN:
        this.#onOpen(msg);
        return;
      case MSG_TYPE.CONTROL.CLOSE:
        this.#onDeviceClose(msg);
        return;
      case MSG_TYPE.CONTROL.ERROR:
        this.#onDeviceError(msg);
        return;
      default:
        this.#sendError(400, `unknown control message ${JSON.stringify(msg.hdr.typ ?? '')}`, msg);
    }
  }

  #onOpen(msg: ProtoMsg): void {
    if (this.#state !== STATE.OPENING) {
      this.#sendError(400, 'the channel is already open', msg);
      return;
    }
    let versions: number[];
    try {
      versions = decodePayload(msg.body, ControlOpenBody).versions;
    } catch (err) {
      this.#sendError(400, (err as Error).message, msg);
      return;
    }
    if (!versions.includes(1)) {
      this.#sendError(426, CLOSE.VERSION.text, msg, true);
      this.#closeSocket(CLOSE.VERSION);
      return;
    }
    this.#state = STATE.ACCEPTING;
    this.#ctx.inTurn(() => void this.#goOnline());
  }

  async #goOnline(): Promise<void> {
    // Gone already while waiting for its turn: nothing to claim.
    if (this.#closed()) return;
    const tenant = this.#tenant;
    const deviceId = this.#deviceId;
    const heartbeatMs = this.#heartbeatMs;
    const { log } = this.#ctx;
    let taken: Claim;
    try {
      taken = await claimDevice(this.#ctx, tenant, deviceId, this);
    } catch (err) {
      log.error({ deviceId, err }, 'device could not go online');
      this.close(CLOSE.FAILED);
      return;
    }
    if (this.#state === STATE.CLOSED) {
      // The device left while we were taking over: undo what #finish could not see yet.
      taken.downlink.unsubscribe();
      this.#recordOffline(taken.epoch, 'connection lost');
      return;
    }
    this.#epoch = taken.epoch;
    this.#downlink = taken.downlink;
    this.#state = STATE.OPEN;
    // A newer connection's close order may have come in while we waited for our epoch.
    const pending = this.#pendingOrder;
    this.#pendingOrder = undefined;
    if (pending && mustClose(pending, taken.epoch)) {
      this.#onCloseOrder(pending);
      return;
    }
    this.#send(
      encodeProtoMsg({
        hdr: {
          proto: PROTO.CONTROL,
          typ: MSG_TYPE.CONTROL.ACCEPT,
          props: { heartbeatMs, deviceId, epoch: taken.epoch, maxFrameBytes: this.#ctx.maxFrameBytes },
        },
        body: ACCEPT_BODY,
      }),
    );
    log.info({ deviceId, tenant, epoch: taken.epoch }, 'device online');
    const now = Date.now();
    // The read deadline starts at the accept: the device pings from then on, and the time the edge
    // took to bring it online is not the device's silence.
    this.#lastSeenAt = now;
    this.#reannounceAt = now + REANNOUNCE_AFTER_MS;
    const early = this.#early ?? [];
    this.#early = undefined;
    for (const frame of early) this.receive(frame, true);
    if (this.#ws.isPaused) this.#ws.resume();
  }

  #onDeviceClose(msg: ProtoMsg): void {
    let reason: string | undefined;
    try {
      reason = decodePayload(msg.body, ControlCloseBody).reason;
    } catch {
      reason = undefined;
    }
    this.#ctx.log.info({ deviceId: this.deviceId, reason }, 'device closed the channel');
    this.#closeSocket(CLOSE.DEVICE);
  }

  #onDeviceError(msg: ProtoMsg): void {
    let body: ControlErrorBody | undefined;
    try {
      body = decodePayload(msg.body, ControlErrorBody);
    } catch {
      body = undefined;
    }
    this.#ctx.log.warn(
      { deviceId: this.deviceId, code: body?.code, err: body?.err },
      'device reported an error',
    );
    if (body?.close) this.#closeSocket(CLOSE.DEVICE);
  }

  #onUplink(msg: ProtoMsg, receivedAt: number): void {
    const tenant = this.#tenant;
    const deviceId = this.#deviceId;
    const uplink = routeUplink(msg, { tenant, deviceId, receivedAt });
    switch (uplink.kind) {
      case 'refused':
        this.#sendError(400, uplink.err, msg);
        return;
      case 'liveness':
        if (uplink.msgid !== undefined) this.#sendAck(uplink.msgid);
        return;
      case 'publish':
        this.#publish(uplink, msg);
    }
  }

  #publish(uplink: Extract<Uplink, { kind: 'publish' }>, msg: ProtoMsg): void {
    const tenant = this.#tenant;
    const deviceId = this.#deviceId;
    const { publisher, log } = this.#ctx;
    const { msgid, commandId } = uplink;
    const subject = this.#upSubject(uplink.upKind);
    // A resend of the same msgid (e.g. after a reconnect) is dropped by the stream's duplicate window.
    const msgId = msgid === undefined ? undefined : `${tenant}:${deviceId}:${msgid}`;
    // A callback, not a promise: one closure per message instead of a promise, its executor and
    // two reaction closures.
    publisher.send(subject, uplink.bytes, msgId, (err) => {
      if (err) {
        log.warn({ deviceId, commandId, kind: uplink.upKind, err: err.message }, 'uplink not durable');
        if (msgid !== undefined) this.#sendError(503, 'not durable, retry', msg);
        return;
      }
      if (commandId !== undefined && log.isLevelEnabled('info'))
        log.info({ deviceId, commandId, typ: msg.hdr.typ }, 'command reply published');
      if (msgid !== undefined) this.#sendAck(msgid);
    });
  }

  #upSubject(kind: UpKind): string {
    if (kind !== UP_KIND.REPLY) return this.#ctx.subjects.up(this.#tenant, this.#deviceId, kind);
    this.#replySubject ??= this.#ctx.subjects.up(this.#tenant, this.#deviceId, UP_KIND.REPLY);
    return this.#replySubject;
  }

  /** A message on the device's down subject (the channel is its subscription's receiver). */
  onDownlink(_err: Error | null, natsMsg: Msg): void {
    let request: ProtoMsg;
    try {
      request = decodeProtoMsg(natsMsg.data, { maxFrameBytes: DOWNLINK_MAX_BYTES });
    } catch (err) {
      respondError(natsMsg, DOWNLINK_ERROR.BAD_REQUEST, (err as Error).message);
      return;
    }
    const order = closeOrderOf(request);
    if (order) {
      this.#onCloseOrder(order);
      return;
    }
    if (request.hdr.proto !== PROTO.COMMAND || request.hdr.typ !== MSG_TYPE.COMMAND.REQUEST) {
      respondError(natsMsg, DOWNLINK_ERROR.UNSUPPORTED, 'WebSocket devices accept only COMMAND/request');
      return;
    }
    this.#sendCommand(natsMsg, request);
  }

  #onCloseOrder(order: CloseOrder): void {
    if (this.#state === STATE.ACCEPTING) {
      // Subscribed but our epoch is not known yet: decide once it is (see #goOnline).
      if (!this.#pendingOrder || order.epoch > this.#pendingOrder.epoch) this.#pendingOrder = order;
      return;
    }
    if (this.#state === STATE.CLOSED || !mustClose(order, this.#epoch)) return;
    if (isRevocation(order)) this.close(CLOSE.REVOKED, order.reason ?? CLOSE.REVOKED.text);
    else this.close(CLOSE.TAKEOVER);
  }

  #sendCommand(natsMsg: Msg, request: ProtoMsg): void {
    const { metrics, log, maxBufferedBytes } = this.#ctx;
    let body: CommandRequestBody;
    try {
      body = decodePayload(request.body, CommandRequestBody);
    } catch (err) {
      metrics.commands.inc(COMMAND_OUTCOME.BAD_REQUEST);
      respondError(natsMsg, DOWNLINK_ERROR.BAD_REQUEST, (err as Error).message);
      return;
    }
    const { commandId } = body;
    if (this.#state !== STATE.OPEN || this.#ws.readyState !== WebSocket.OPEN) {
      metrics.commands.inc(COMMAND_OUTCOME.CLOSING);
      respondError(natsMsg, DOWNLINK_ERROR.UNAVAILABLE, 'connection closing');
      return;
    }
    if (this.#ws.bufferedAmount > maxBufferedBytes) {
      metrics.commands.inc(COMMAND_OUTCOME.BACKLOGGED);
      respondError(natsMsg, DOWNLINK_ERROR.UNAVAILABLE, 'the device is not reading: too much unsent data');
      return;
    }
    // The request's body went through the schema above; the device gets it as it came (the
    // dispatcher encodes it with encodePayload, so these are the bytes re-encoding would give).
    this.#send(encodeProtoMsgScratch({ hdr: COMMAND_REQUEST_HDR, body: request.body }));
    metrics.commands.inc(COMMAND_OUTCOME.SENT);
    if (log.isLevelEnabled('info'))
      log.info({ deviceId: this.deviceId, commandId, name: body.name }, 'command sent to device');
    natsMsg.respond(
      encodeProtoMsg({ hdr: COMMAND_ACK_HDR, body: encodePayloadScratch(CommandAckBody, { commandId }) }),
    );
  }

  #violation(code: 413 | 429, err: string, now: number): void {
    this.#sendError(code, err);
    this.#violations ??= new ViolationWindow();
    if (this.#violations.record(now)) {
      this.#ctx.log.warn({ deviceId: this.deviceId, code }, 'closing a connection over its limits');
      this.close(CLOSE.LIMITS);
    }
  }

  #sendAck(msgid: string): void {
    if (
      this.#send(
        encodeProtoMsgScratch({ hdr: { proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.ACK, props: { msgid } } }),
      )
    ) {
      this.#ctx.metrics.acks.inc();
    }
  }

  /** control/error naming the offending message (proto, typ, msgid) when there is one. */
  #sendError(code: number, err: string, about?: ProtoMsg, close = false): void {
    const msgid = about?.hdr.props?.msgid;
    const body: ControlErrorBody = {
      err,
      close,
      code,
      ...(about ? { msgproto: about.hdr.proto } : {}),
      ...(about?.hdr.typ ? { msgtype: about.hdr.typ } : {}),
      ...(typeof msgid === 'string' ? { msgid: msgid.slice(0, 128) } : {}),
    };
    this.#ctx.metrics.errors.inc({ code: String(code) });
    this.#ctx.log.debug({ deviceId: this.deviceId, code, err }, 'frame refused');
    this.#send(
      encodeProtoMsg({
        hdr: { proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.ERROR },
        body: encodePayload(ControlErrorBody, body),
      }),
    );
  }

  #sendControlClose(reason: string): void {
    this.#send(
      encodeProtoMsg({
        hdr: { proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.CLOSE },
        body: encodePayload(ControlCloseBody, { reason }),
      }),
    );
  }

  /** `message` may be a scratch view: see DeviceSocket.sendBinary. */
  #send(message: Uint8Array, frame?: Buffer): boolean {
    if (this.#ws.readyState !== WebSocket.OPEN) return false;
    this.#ws.sendBinary(message, frame);
    return true;
  }

  #closed(): boolean {
    return this.#state === STATE.CLOSED;
  }

  /** Runs once per channel: leave the down subject, record offline, count the close. */
  #finish(reason: CloseReason, text: string = reason.text): void {
    if (this.#state === STATE.CLOSED) return;
    const wasOnline = this.#epoch > 0;
    this.#state = STATE.CLOSED;
    this.#downlink?.unsubscribe();
    this.#downlink = undefined;
    this.#ctx.metrics.closes.inc({ reason: reason.label });
    if (!wasOnline) return;
    this.#ctx.log.info({ deviceId: this.deviceId, epoch: this.#epoch, reason: text }, 'device offline');
    this.#recordOffline(this.#epoch, text);
  }

  #recordOffline(epoch: number, reason: string): void {
    const tenant = this.#tenant;
    const deviceId = this.#deviceId;
    // Not tied to the socket's fate: it runs to the end (bounded by the publish timeout) even on shutdown.
    this.#ctx.track(
      this.#ctx.presence
        .offline(tenant, deviceId, epoch, reason)
        .catch((err: Error) =>
          this.#ctx.log.warn({ deviceId, epoch, err: err.message }, 'offline not recorded'),
        ),
    );
  }
}

function respondError(msg: Msg, code: number, err: string): void {
  if (!msg.reply) return;
  msg.respond(
    encodeProtoMsg({
      hdr: { proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.ERROR },
      body: encodePayload(ControlErrorBody, { err, close: false, code }),
    }),
  );
}

function truncate(text: string): string {
  let cut = text;
  while (Buffer.byteLength(cut) > MAX_CLOSE_REASON) cut = cut.slice(0, -1);
  return cut;
}
