/**
 * Payloads on JetStream subjects travel in the same ProtoMsg envelope as device frames:
 * `hdr.proto` is the fleetwire proto, `hdr.typ` the message type, `body` the msgpack-encoded
 * payload map. One codec for both legs, and any msgpack library can read it.
 */
import type { Static, TSchema } from 'typebox';
import { decodePayload, describeType, encodePayloadScratch } from './body.ts';
import { type DecodeLimits, decodeProtoMsg, encodeProtoMsg } from './envelope.ts';
import { PROTOCOL_ERROR, ProtocolError } from './errors.ts';
import {
  type AnyBusMessage,
  type BusPayload,
  type BusProto,
  type BusTyp,
  busPayloadSchema,
} from './registry.ts';

/** NATS' default max_payload; a bigger message could not be published anyway. */
export const BUS_MAX_MESSAGE_BYTES = 1024 * 1024;

export interface BusMessage<Payload> {
  proto: number;
  typ: string;
  props?: Record<string, unknown>;
  payload: Payload;
}

/** Validates the payload against the bus schema registered for proto/typ, then encodes the envelope. */
export function encodeBusMessage<P extends BusProto, T extends BusTyp<P>>(
  proto: P,
  typ: T,
  payload: BusPayload<P, T>,
  props?: Record<string, unknown>,
): Uint8Array {
  const schema = busPayloadSchema(proto, typ);
  if (schema === undefined) {
    throw new ProtocolError(
      PROTOCOL_ERROR.UNKNOWN_MESSAGE_TYPE,
      `no bus payload schema for ${describeType(proto, typ)}`,
    );
  }
  const hdr = props === undefined ? { proto, typ } : { proto, typ, props };
  return encodeProtoMsg(
    { hdr, body: encodePayloadScratch(schema, payload) },
    { maxFrameBytes: BUS_MAX_MESSAGE_BYTES },
  );
}

/** Decodes a bus message whose payload must match `schema`. */
export function decodeBusMessage<S extends TSchema>(
  bytes: Uint8Array,
  schema: S,
  limits?: DecodeLimits,
): BusMessage<Static<S>> {
  const msg = decodeProtoMsg(bytes, { maxFrameBytes: BUS_MAX_MESSAGE_BYTES, ...limits });
  const { proto, typ, props } = msg.hdr;
  if (typ === undefined) {
    throw new ProtocolError(PROTOCOL_ERROR.MISSING_FIELD, 'bus messages need a typ', { path: 'hdr.typ' });
  }
  const payload = decodePayload(msg.body, schema, { maxDepth: limits?.maxDepth });
  return props === undefined ? { proto, typ, payload } : { proto, typ, props, payload };
}

/** Decodes any registered bus message, choosing the schema by proto/typ. */
export function decodeAnyBusMessage(bytes: Uint8Array, limits?: DecodeLimits): AnyBusMessage {
  const msg = decodeProtoMsg(bytes, { maxFrameBytes: BUS_MAX_MESSAGE_BYTES, ...limits });
  const { proto, typ, props } = msg.hdr;
  const schema = busPayloadSchema(proto, typ);
  if (schema === undefined) {
    throw new ProtocolError(
      PROTOCOL_ERROR.UNKNOWN_MESSAGE_TYPE,
      `no bus payload schema for ${describeType(proto, typ)}`,
      {
        path: 'hdr.typ',
      },
    );
  }
  const payload = decodePayload(msg.body, schema, { maxDepth: limits?.maxDepth });
  return (props === undefined ? { proto, typ, payload } : { proto, typ, props, payload }) as AnyBusMessage;
}
