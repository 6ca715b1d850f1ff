import { env } from '@fleetwire/runtime';

export const telemetryConfig = {
  batchMaxMessages: env.int('FW_TELEMETRY_BATCH', { default: 2_000, min: 1, max: 20_000 }),
  batchMaxWaitMs: env.duration('FW_TELEMETRY_BATCH_WAIT', { default: 25 }),
  /** Batches in flight: the next batch is decoded while the previous one commits. */
  batchesInFlight: env.int('FW_TELEMETRY_BATCHES_IN_FLIGHT', { default: 2, min: 1, max: 8 }),
  /**
   * Latest device state (`device_state`) is written at most this often, not with every batch: it
   * lags the telemetry rows by up to this long.
   */
  stateIntervalMs: env.duration('FW_TELEMETRY_STATE_INTERVAL', { default: 1_000, minMs: 10 }),
  retentionDays: env.int('FW_TELEMETRY_RETENTION_DAYS', { default: 90, min: 1, max: 36_500 }),
  /** Telemetry notifications for webhooks: at most one per device per interval. 0 turns them off. */
  notifyIntervalMs: env.duration('FW_TELEMETRY_NOTIFY_INTERVAL', { default: 10_000 }),
};
