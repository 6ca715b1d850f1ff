import { AVL_LAYOUTS, type AvlLayout, COORDINATE_SCALE, FIXED_IO_WIDTHS } from './avl-layout.ts';
import type { AvlRecord, IoValue } from './avl-types.ts';
import { ByteWriter } from './bytes.ts';
import { type AvlCodecId, isAvlCodec } from './codec-ids.ts';
import { TeltonikaError } from './errors.ts';
import { wrapDataFrame } from './packet.ts';

/** Builds a complete TCP data frame (preamble, length, body, CRC) for simulators and tests. */
export function encodeAvlPacket(codec: AvlCodecId, records: readonly AvlRecord[]): Uint8Array {
  return wrapDataFrame(encodeAvlBody(codec, records));
}

/** Codec id … Number of Data 2, without the TCP envelope. */
export function encodeAvlBody(codec: AvlCodecId, records: readonly AvlRecord[]): Uint8Array {
  if (!isAvlCodec(codec)) {
    throw new TeltonikaError(
      'UNKNOWN_CODEC',
      `codec 0x${Number(codec).toString(16)} does not carry AVL records`,
      {
        field: 'codec',
        actual: codec,
      },
    );
  }
  const layout = AVL_LAYOUTS[codec];
  const writer = new ByteWriter();
  writer.u8(codec, 'codec').u8(records.length, 'number of records');
  records.forEach((record, index) => {
    writeRecord(writer, layout, record, `records[${index}]`);
  });
  writer.u8(records.length, 'number of records');
  return writer.finish();
}

/** The server's reply to an AVL packet: the accepted record count as a big-endian u32. */
export function encodeRecordCountAck(count: number): Uint8Array {
  return new ByteWriter().u32(count, 'record count').finish();
}

function writeRecord(writer: ByteWriter, layout: AvlLayout, record: AvlRecord, path: string): void {
  writer
    .u64(timestampToWire(record.timestamp, `${path}.timestamp`), `${path}.timestamp`)
    .u8(checkPriority(record.priority, `${path}.priority`), `${path}.priority`)
    .i32(Math.round(record.longitude * COORDINATE_SCALE), `${path}.longitude`)
    .i32(Math.round(record.latitude * COORDINATE_SCALE), `${path}.latitude`)
    .i16(record.altitude, `${path}.altitude`)
    .u16(record.angle, `${path}.angle`)
    .u8(record.satellites, `${path}.satellites`)
    .u16(record.speed, `${path}.speed`);
  writeId(writer, layout, record.eventIoId, `${path}.eventIoId`);
  writeGenerationType(writer, layout, record.generationType, `${path}.generationType`);
  writeIoElements(writer, layout, record.io, `${path}.io`);
}

function timestampToWire(timestamp: number, field: string): bigint {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new TeltonikaError('NOT_ENCODABLE', `${field} = ${timestamp} is not a non-negative integer of ms`, {
      field,
      actual: timestamp,
    });
  }
  return BigInt(timestamp);
}

function checkPriority(priority: number, field: string): number {
  if (priority !== 0 && priority !== 1 && priority !== 2) {
    throw new TeltonikaError('NOT_ENCODABLE', `${field} = ${priority} is not 0, 1 or 2`, {
      field,
      actual: priority,
    });
  }
  return priority;
}

function writeGenerationType(
  writer: ByteWriter,
  layout: AvlLayout,
  generationType: number | undefined,
  field: string,
): void {
  if (layout.hasGenerationType === (generationType !== undefined)) {
    if (generationType !== undefined) writer.u8(generationType, field);
    return;
  }
  const problem = layout.hasGenerationType ? 'is required by Codec 16' : 'exists only in Codec 16';
  throw new TeltonikaError('NOT_ENCODABLE', `${field} ${problem}`, { field });
}

function writeIoElements(writer: ByteWriter, layout: AvlLayout, io: readonly IoValue[], path: string): void {
  checkElementShapes(io, path);
  const variable = io.filter(isVariableIo);
  if (variable.length > 0 && !layout.hasVariableGroup) {
    throw new TeltonikaError(
      'NOT_ENCODABLE',
      `${path}: variable-length (NX) IO exists only in Codec 8 Extended`,
      {
        field: path,
      },
    );
  }
  writeCount(writer, layout, io.length, `${path} total count`);
  for (const width of FIXED_IO_WIDTHS) {
    const group = io.filter((element) => element.width === width);
    writeCount(writer, layout, group.length, `${path} ${width}-byte count`);
    for (const element of group) {
      writeId(writer, layout, element.id, `${path}.id`);
      writeFixedValue(writer, element, `${path}[id ${element.id}].value`);
    }
  }
  if (layout.hasVariableGroup) {
    writer.u16(variable.length, `${path} NX count`);
    for (const element of variable) {
      writer
        .u16(element.id, `${path}.id`)
        .u16(element.value.length, `${path}[id ${element.id}].length`)
        .bytes(element.value);
    }
  }
}

type VariableIo = Extract<IoValue, { width: 'x' }>;

function isVariableIo(element: IoValue): element is VariableIo {
  return element.width === 'x';
}

function writeFixedValue(writer: ByteWriter, element: IoValue, field: string): void {
  switch (element.width) {
    case 1:
      writer.u8(element.value, field);
      return;
    case 2:
      writer.u16(element.value, field);
      return;
    case 4:
      writer.u32(element.value, field);
      return;
    case 8:
      writer.u64(element.value, field);
      return;
    case 'x':
      return;
  }
}

/**
 * Guards untyped callers: an element of another width would vanish silently, and a non-byte NX
 * value would fail deep inside Uint8Array.set with a TypeError. Fixed-width values are range
 * checked by the writer itself.
 */
function checkElementShapes(io: readonly IoValue[], path: string): void {
  for (const element of io) {
    const width: unknown = element.width;
    const known = width === 1 || width === 2 || width === 4 || width === 8 || width === 'x';
    if (!known || (width === 'x' && !(element.value instanceof Uint8Array))) {
      throw new TeltonikaError('NOT_ENCODABLE', `${path}[id ${element.id}] is not a valid IO element`, {
        field: `${path}[id ${element.id}]`,
        actual: String(width),
      });
    }
  }
}

function writeId(writer: ByteWriter, layout: AvlLayout, id: number, field: string): void {
  if (layout.idBytes === 1) writer.u8(id, field);
  else writer.u16(id, field);
}

function writeCount(writer: ByteWriter, layout: AvlLayout, count: number, field: string): void {
  if (layout.countBytes === 1) writer.u8(count, field);
  else writer.u16(count, field);
}
