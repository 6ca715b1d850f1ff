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
import type { NatsConnection } from '@nats-io/transport-node';

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

/** Core NATS request/reply on `down.<device>`: no responders means the device is offline. */
export class Downlink {
  readonly #nc: NatsConnection;
  readonly #subjects: Subjects;
  readonly #timeoutMs: number;

  constructor(nc: NatsConnection, subjects: Subjects, timeoutMs: number) {
    this.#nc = nc;
    this.#subjects = subjects;
    this.#timeoutMs = timeoutMs;
  }

  async send(command: DownlinkCommand): Promise<DownlinkOutcome> {
    let request: Uint8Array;
    try {
      request = encodeRequest(command);
    } catch (err) {
      return { kind: 'rejected', code: 400, error: `cannot encode the command: ${(err as Error).message}` };
    }
    try {
      const reply = await this.#nc.request(this.#subjects.down(command.tenant, command.deviceId), request, {
        timeout: this.#timeoutMs,
      });
      return interpretReply(reply.data);
    } catch (err) {
      if (isNamed(err, 'NoRespondersError')) return { kind: 'offline' };
      if (isNamed(err, 'TimeoutError')) return { kind: 'timeout' };
      throw err;
    }
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

/** RequestError wraps the cause (NoRespondersError, TimeoutError); look through the chain. */
function isNamed(err: unknown, name: string): boolean {
  for (
    let e = err as Error | undefined, depth = 0;
    e && depth < 5;
    e = e.cause as Error | undefined, depth++
  ) {
    if (e.name === name) return true;
    if (name === 'NoRespondersError' && /no responders/i.test(e.message)) return true;
  }
  return false;
}
