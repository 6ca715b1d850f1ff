import {
  type CommandId,
  CommandRequestBody,
  ControlErrorBody,
  type DeviceId,
  decodePayload,
  decodeProtoMsg,
  encodePayload,
  encodeProtoMsg,
  MSG_TYPE,
  PROTO,
  type Subjects,
  type TenantId,
} from '@fleetwire/protocol';
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

/** What the edge holding the device said about one command request. */
export type DownlinkOutcome =
  /** Written to the device. */
  | { kind: 'ack' }
  /** Another command is in flight or the connection is closing: ask again shortly. */
  | { kind: 'busy'; reason: string }
  /** No edge holds the device. */
  | { kind: 'offline' }
  /** The request can never succeed (bad request, unsupported command). */
  | { kind: 'rejected'; code: number; error: string }
  /** The edge did not answer in time; whether the command went out is unknown. */
  | { kind: 'timeout' };

export interface DownlinkCommand {
  tenant: TenantId;
  deviceId: DeviceId;
  id: string;
  name: string;
  args: Record<string, unknown>;
  expiresAt: string;
}

const PERMANENT_CODES: ReadonlySet<number> = new Set([400, 422]);

interface PendingRequest {
  resolve(outcome: Reply): void;
  timer: NodeJS.Timeout;
}

type Reply = { data: Uint8Array } | { kind: 'offline' } | { kind: 'timeout' };

/**
 * Core NATS request/reply on `down.<device>`: no responders means the device is offline. Requests
 * share one wildcard reply subscription and are matched by token, rather than going through
 * nc.request(), which builds an Error with a stack for every request it completes (nats.js cancels
 * each finished request with a fresh RequestError) — about 3 % of this service's CPU.
 */
export class Downlink {
  readonly #nc: NatsConnection;
  readonly #subjects: Subjects;
  readonly #timeoutMs: number;
  readonly #prefix: string;
  readonly #pending = new Map<number, PendingRequest>();
  readonly #sub: Subscription;
  #next = 0;

  constructor(nc: NatsConnection, subjects: Subjects, timeoutMs: number) {
    this.#nc = nc;
    this.#subjects = subjects;
    this.#timeoutMs = timeoutMs;
    this.#prefix = createInbox();
    this.#sub = nc.subscribe(`${this.#prefix}.*`, { callback: (_err, msg) => this.#onReply(msg) });
  }

  async send(command: DownlinkCommand): Promise<DownlinkOutcome> {
    let request: Uint8Array;
    try {
      request = encodeRequest(command);
    } catch (err) {
      return { kind: 'rejected', code: 400, error: `cannot encode the command: ${(err as Error).message}` };
    }
    const reply = await this.#request(this.#subjects.down(command.tenant, command.deviceId), request);
    return 'data' in reply ? interpretReply(reply.data) : reply;
  }

  /** Stops listening for answers; requests still waiting end as timeouts. */
  close(): void {
    this.#sub.unsubscribe();
  }

  #request(subject: string, data: Uint8Array): Promise<Reply> {
    const token = this.#next++;
    return new Promise<Reply>((resolve) => {
      const timer = setTimeout(() => this.#settle(token, { kind: 'timeout' }), this.#timeoutMs);
      this.#pending.set(token, { resolve, timer });
      try {
        this.#nc.publish(subject, data, { reply: `${this.#prefix}.${token}` });
      } catch (err) {
        this.#pending.delete(token);
        clearTimeout(timer);
        throw err;
      }
    });
  }

  #onReply(msg: Msg): void {
    const token = Number(msg.subject.slice(this.#prefix.length + 1));
    // The server answers a request nobody subscribes to with an empty 503 status message.
    const noResponders = msg.data.length === 0 && msg.headers?.code === 503;
    this.#settle(token, noResponders ? { kind: 'offline' } : { data: msg.data });
  }

  #settle(token: number, reply: Reply): void {
    const pending = this.#pending.get(token);
    if (!pending) return; // answered after its timeout
    this.#pending.delete(token);
    clearTimeout(pending.timer);
    pending.resolve(reply);
  }
}

function encodeRequest(command: DownlinkCommand): Uint8Array {
  return encodeProtoMsg({
    hdr: { proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.REQUEST },
    body: encodePayload(CommandRequestBody, {
      commandId: command.id as CommandId,
      name: command.name,
      args: command.args,
      expiresAt: Date.parse(command.expiresAt),
    }),
  });
}

export function interpretReply(data: Uint8Array): DownlinkOutcome {
  const msg = decodeProtoMsg(data);
  if (msg.hdr.proto === PROTO.COMMAND && msg.hdr.typ === MSG_TYPE.COMMAND.ACK) return { kind: 'ack' };
  if (msg.hdr.proto === PROTO.CONTROL && msg.hdr.typ === MSG_TYPE.CONTROL.ERROR) {
    const error = decodePayload(msg.body, ControlErrorBody);
    const code = error.code ?? 0;
    return PERMANENT_CODES.has(code)
      ? { kind: 'rejected', code, error: error.err }
      : { kind: 'busy', reason: `${code}: ${error.err}` };
  }
  return { kind: 'busy', reason: `unexpected answer ${msg.hdr.proto}/${msg.hdr.typ ?? ''}` };
}
