import { AVL_LAYOUTS, type AvlLayout, COORDINATE_SCALE, FIXED_IO_WIDTHS } from './avl-layout.ts';
import type { AvlPacket, AvlRecord, IoValue, Priority } from './avl-types.ts';
import { ByteReader } from './bytes.ts';
import { isAvlCodec } from './codec-ids.ts';
import { TeltonikaError } from './errors.ts';
import { readQuantity2, unwrapDataFrame } from './packet.ts';

/** Decodes a whole TCP data frame (preamble … CRC) carrying Codec 8, 8 Extended or 16. */
export function decodeAvlPacket(frame: Uint8Array): AvlPacket {
  return decodeAvlBody(unwrapDataFrame(frame));
}

/** Decodes codec id … Number of Data 2, already CRC-checked (or, over UDP, not checkable). */
export function decodeAvlBody(body: Uint8Array): AvlPacket {
  const reader = new ByteReader(body);
  const codec = reader.u8();
  if (!isAvlCodec(codec)) {
    throw new TeltonikaError('UNKNOWN_CODEC', `codec 0x${codec.toString(16)} does not carry AVL records`, {
      field: 'codec',
      actual: codec,
      offset: 0,
    });
  }
  const layout = AVL_LAYOUTS[codec];
  const quantity1 = reader.u8();
  const records: AvlRecord[] = [];
  for (let i = 0; i < quantity1; i++) {
    records.push(readRecord(reader, layout));
  }
  readQuantity2(reader, quantity1);
  return { kind: 'avl', codec, records, ack: quantity1 };
}

function readRecord(reader: ByteReader, layout: AvlLayout): AvlRecord {
  const timestamp = readTimestamp(reader);
  const priority = readPriority(reader);
  const longitude = reader.i32() / COORDINATE_SCALE;
  const latitude = reader.i32() / COORDINATE_SCALE;
  const altitude = reader.i16();
  const angle = reader.u16();
  const satellites = reader.u8();
  const speed = reader.u16();
  const eventIoId = readId(reader, layout);
  const generationType = layout.hasGenerationType ? reader.u8() : undefined;
  // N (total IO count) repeats the sum of the group counts, which are what drive parsing. Like
  // Traccar we do not reject on it: the CRC already guards corruption, and rejecting a firmware
  // quirk would only make the device resend the same packet forever.
  readCount(reader, layout);
  const io = readIoElements(reader, layout);
  const position = {
    timestamp,
    priority,
    longitude,
    latitude,
    altitude,
    angle,
    satellites,
    speed,
    eventIoId,
  };
  return generationType === undefined ? { ...position, io } : { ...position, generationType, io };
}

function readTimestamp(reader: ByteReader): number {
  const offset = reader.offset;
  const millis = reader.u64Safe();
  if (typeof millis === 'bigint') {
    throw new TeltonikaError('BAD_FIELD', `timestamp ${millis} ms is beyond the representable range`, {
      field: 'timestamp',
      actual: millis.toString(),
      offset,
    });
  }
  return millis;
}

function readPriority(reader: ByteReader): Priority {
  const offset = reader.offset;
  const priority = reader.u8();
  if (priority !== 0 && priority !== 1 && priority !== 2) {
    throw new TeltonikaError('BAD_FIELD', `priority ${priority} is not 0, 1 or 2`, {
      field: 'priority',
      actual: priority,
      offset,
    });
  }
  return priority;
}

function readId(reader: ByteReader, layout: AvlLayout): number {
  return layout.idBytes === 1 ? reader.u8() : reader.u16();
}

function readCount(reader: ByteReader, layout: AvlLayout): number {
  return layout.countBytes === 1 ? reader.u8() : reader.u16();
}

function readIoElements(reader: ByteReader, layout: AvlLayout): IoValue[] {
  const io: IoValue[] = [];
  for (const width of FIXED_IO_WIDTHS) {
    const count = readCount(reader, layout);
    for (let i = 0; i < count; i++) {
      io.push(readFixedIo(reader, layout, width));
    }
  }
  if (layout.hasVariableGroup) {
    const count = reader.u16();
    for (let i = 0; i < count; i++) {
      const id = reader.u16();
      const length = reader.u16();
      io.push({ id, width: 'x', value: reader.bytes(length) });
    }
  }
  return io;
}

function readFixedIo(reader: ByteReader, layout: AvlLayout, width: 1 | 2 | 4 | 8): IoValue {
  const id = readId(reader, layout);
  switch (width) {
    case 1:
      return { id, width, value: reader.u8() };
    case 2:
      return { id, width, value: reader.u16() };
    case 4:
      return { id, width, value: reader.u32() };
    case 8:
      return { id, width, value: reader.u64() };
  }
}
