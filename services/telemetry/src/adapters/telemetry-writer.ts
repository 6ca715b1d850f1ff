import { type DeviceId, decodeBusMessage, TelemetryMessage, type TenantId } from '@fleetwire/protocol';
import { type BatchOutcome, isRedelivered, type Logger } from '@fleetwire/runtime';
import type { JsMsg } from '@nats-io/jetstream';
import type { Counter, Histogram } from 'prom-client';
import type { TelemetryCoalescer } from '../notifications.ts';
import { CopyDataError, CopyWriter } from './copy-binary.ts';
import { copyDirect, type DirectMessage } from './direct-copy.ts';
import type { StoredRecord, TelemetryStore } from './telemetry-store.ts';

export interface WriterMetrics {
  records: Counter<'result'>;
  batchSeconds: Histogram;
  endToEndSeconds: Histogram;
}

/** SQLSTATE classes that mean "this data can never be stored", as opposed to "try again later". */
const DATA_ERROR = /^(22|23)/;

/**
 * A message of the batch: its records (light ones from the direct path) and, for the full ones and
 * the notification samples, what it was read from. Plain fields rather than closures: this is built
 * once per message.
 */
interface Decoded {
  msg: JsMsg;
  tenant: TenantId;
  deviceId: DeviceId;
  /** For the state writers and metrics; from the direct path without `io`. */
  records: StoredRecord[];
  /** Set when the direct path read the message (its `records` are light). */
  direct: DirectMessage | undefined;
  /** Set when the message was decoded (its `records` are complete). */
  payload: TelemetryMessage | undefined;
}

/** Complete records, for the exact path (decoded again if the direct path read the message). */
function full(d: Decoded): StoredRecord[] {
  return d.direct ? toStoredRecords(decodeBusMessage(d.msg.data, TelemetryMessage).payload) : d.records;
}

function notify(coalescer: TelemetryCoalescer, d: Decoded): void {
  if (d.direct) coalescer.addStored(d.tenant, d.deviceId, d.records, d.direct.speeds);
  else coalescer.add(d.tenant, d.deviceId, d.payload?.records ?? []);
}

/**
 * Turns a batch of telemetry messages into rows. Undecodable messages are poison (terminated);
 * a data error from PostgreSQL is narrowed down to the offending message by retrying one by one;
 * anything else is thrown, so the whole batch is retried later and nothing is acknowledged early.
 * Fresh messages are written into one COPY stream as they are read, most of them by the direct
 * path (direct-copy.ts) without building their records; the rest are decoded and validated.
 */
export function telemetryBatchHandler(deps: {
  store: TelemetryStore;
  coalescer: TelemetryCoalescer | undefined;
  /** Latest device state: which states go with a batch, and what was committed. */
  latest: {
    due(records: readonly StoredRecord[]): StoredRecord[];
    committed(records: readonly StoredRecord[], written: readonly StoredRecord[]): void;
  };
  metrics: WriterMetrics;
  log: Logger;
}) {
  return async (batch: JsMsg[]): Promise<BatchOutcome> => {
    const started = performance.now();
    const poison: Array<{ msg: JsMsg; reason: string }> = [];
    const copy = new CopyWriter(batch.length * 512 + 64);
    copy.header();
    const decoded: Decoded[] = [];
    const fresh: Decoded[] = [];
    const resent: Decoded[] = [];
    for (const msg of batch) {
      const redelivered = isRedelivered(msg);
      const d = read(msg, redelivered, copy, poison);
      if (d === undefined) continue;
      decoded.push(d);
      (redelivered ? resent : fresh).push(d);
    }
    copy.trailer();
    const records = decoded.flatMap((d) => d.records);
    const states = deps.latest.due(records);
    // A redelivered message was probably stored by an earlier attempt whose acks got lost or late.
    const rows = {
      count: fresh.reduce((n, d) => n + d.records.length, 0),
      bytes: () => copy.done(),
      records: () => fresh.flatMap(full),
    };
    try {
      await deps.store.write(rows, states, resent.flatMap(full));
      deps.latest.committed(records, states);
    } catch (err) {
      if (!DATA_ERROR.test(String((err as { code?: string }).code ?? ''))) throw err;
      deps.log.warn({ err }, 'batch rejected by a data error; writing message by message');
      for (const d of [...decoded]) {
        try {
          await deps.store.write(full(d));
          deps.latest.committed(d.records, []);
        } catch (one) {
          if (!DATA_ERROR.test(String((one as { code?: string }).code ?? ''))) throw one;
          poison.push({ msg: d.msg, reason: `rejected by the database: ${(one as Error).message}` });
          decoded.splice(decoded.indexOf(d), 1);
        }
      }
    }
    const now = Date.now();
    let count = 0;
    for (const d of decoded) {
      count += d.records.length;
      if (deps.coalescer) notify(deps.coalescer, d);
      for (const r of d.records) deps.metrics.endToEndSeconds.observe((now - r.receivedAt) / 1000);
    }
    deps.metrics.records.inc({ result: 'stored' }, count);
    if (poison.length) deps.metrics.records.inc({ result: 'poison' }, poison.length);
    deps.metrics.batchSeconds.observe((performance.now() - started) / 1000);
    return { poison };
  };
}

/**
 * One message: a fresh one is offered to the direct path first, which appends its rows to `copy`;
 * otherwise it is decoded and validated (poison if that fails), and a fresh one's rows appended.
 */
function read(
  msg: JsMsg,
  redelivered: boolean,
  copy: CopyWriter,
  poison: Array<{ msg: JsMsg; reason: string }>,
): Decoded | undefined {
  if (!redelivered) {
    const direct = copyDirect(msg.data, copy);
    if (direct) {
      const { tenant, deviceId, records } = direct;
      return { msg, tenant, deviceId, records, direct, payload: undefined };
    }
  }
  let payload: TelemetryMessage;
  try {
    payload = decodeBusMessage(msg.data, TelemetryMessage).payload;
  } catch (err) {
    poison.push({ msg, reason: `undecodable telemetry: ${(err as Error).message}` });
    return undefined;
  }
  const records = toStoredRecords(payload);
  if (!redelivered && !appendRows(copy, records, msg, poison)) return undefined;
  const { tenant, deviceId } = payload;
  return { msg, tenant, deviceId, records, direct: undefined, payload };
}

/** A value PostgreSQL would refuse makes the message poison at once, as the database would. */
function appendRows(
  copy: CopyWriter,
  records: readonly StoredRecord[],
  msg: JsMsg,
  poison: Array<{ msg: JsMsg; reason: string }>,
): boolean {
  const mark = copy.position;
  try {
    for (const r of records) copy.row(r);
    return true;
  } catch (err) {
    if (!(err instanceof CopyDataError)) throw err;
    copy.rewind(mark);
    poison.push({ msg, reason: `rejected by the database: ${err.message}` });
    return false;
  }
}

export function toStoredRecords(msg: TelemetryMessage): StoredRecord[] {
  return msg.records.map((r) => ({
    tenantId: msg.tenant,
    deviceId: msg.deviceId,
    deviceTime: r.deviceTime,
    eventIo: r.eventIoId ?? 0,
    receivedAt: r.receivedAt,
    priority: r.priority ?? null,
    latitude: r.position?.lat ?? null,
    longitude: r.position?.lon ?? null,
    altitude: r.position?.alt === undefined ? null : Math.round(r.position.alt),
    angle: r.position?.angle === undefined ? null : Math.round(r.position.angle),
    satellites: r.position?.satellites ?? null,
    speed: r.position?.speed === undefined ? null : Math.round(r.position.speed),
    io: r.io ?? {},
    attributes: r.attributes ?? {},
    source: msg.source,
  }));
}
