import { decodeBusMessage, TelemetryMessage } from '@fleetwire/protocol';
import type { BatchOutcome, Logger } from '@fleetwire/runtime';
import type { JsMsg } from '@nats-io/jetstream';
import type { Counter, Histogram } from 'prom-client';
import type { TelemetryCoalescer } from '../notifications.ts';
import type { StoredRecord, TelemetryStore } from './telemetry-store.ts';

export interface WriterMetrics {
  records: Counter<'result'>;
  batchSeconds: Histogram;
  endToEndSeconds: Histogram;
}

/** SQLSTATE classes that mean "this data can never be stored", as opposed to "try again later". */
const DATA_ERROR = /^(22|23)/;

/**
 * Turns a batch of telemetry messages into rows. Undecodable messages are poison (terminated);
 * a data error from PostgreSQL is narrowed down to the offending message by retrying one by one;
 * anything else is thrown, so the whole batch is retried later and nothing is acknowledged early.
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
    const decoded: Array<{ msg: JsMsg; payload: TelemetryMessage; records: StoredRecord[] }> = [];
    for (const msg of batch) {
      try {
        const { payload } = decodeBusMessage(msg.data, TelemetryMessage);
        decoded.push({ msg, payload, records: toStoredRecords(payload) });
      } catch (err) {
        poison.push({ msg, reason: `undecodable telemetry: ${(err as Error).message}` });
      }
    }
    const records = decoded.flatMap((d) => d.records);
    const states = deps.latest.due(records);
    // A redelivered message was probably stored by an earlier attempt whose acks got lost or late.
    const resent = decoded.filter((d) => d.msg.redelivered).flatMap((d) => d.records);
    const fresh =
      resent.length === 0 ? records : decoded.filter((d) => !d.msg.redelivered).flatMap((d) => d.records);
    try {
      await deps.store.write(fresh, states, resent);
      deps.latest.committed(records, states);
    } catch (err) {
      if (!DATA_ERROR.test(String((err as { code?: string }).code ?? ''))) throw err;
      deps.log.warn({ err }, 'batch rejected by a data error; writing message by message');
      for (const d of [...decoded]) {
        try {
          await deps.store.write(d.records);
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
      deps.coalescer?.add(d.payload.tenant, d.payload.deviceId, d.payload.records);
      for (const r of d.payload.records) deps.metrics.endToEndSeconds.observe((now - r.receivedAt) / 1000);
    }
    deps.metrics.records.inc({ result: 'stored' }, count);
    if (poison.length) deps.metrics.records.inc({ result: 'poison' }, poison.length);
    deps.metrics.batchSeconds.observe((performance.now() - started) / 1000);
    return { poison };
  };
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
