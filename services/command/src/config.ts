import { env } from '@fleetwire/runtime';

export const commandConfig = {
  /** How long the edge may take to say "written", "busy" or "refused" for one downlink request. */
  dispatchTimeoutMs: env.duration('FW_COMMAND_DISPATCH_TIMEOUT', { default: 2_000, minMs: 50 }),
  /** How often commands past their time to live are expired. */
  sweepIntervalMs: env.duration('FW_COMMAND_SWEEP_INTERVAL', { default: 5_000, minMs: 100 }),
  sweepBatch: env.int('FW_COMMAND_SWEEP_BATCH', { default: 500, min: 1, max: 10_000 }),
  /** How often the outbox relay looks for state events nobody published (a crash after commit). */
  outboxIntervalMs: env.duration('FW_COMMAND_OUTBOX_INTERVAL', { default: 2_000, minMs: 100 }),
  /** How long after its commit an unpublished transition is left to its writer before the relay republishes it. */
  outboxGraceMs: env.duration('FW_COMMAND_OUTBOX_GRACE', { default: 5_000, minMs: 0 }),
  outboxBatch: env.int('FW_COMMAND_OUTBOX_BATCH', { default: 500, min: 1, max: 10_000 }),
  /** The seed's switch: an answer that does not fit a command's expected pattern does not complete it. */
  validateResponse: env.bool('VALIDATE_COMMAND_RESPONSE', { default: true }),
  /** Delay before asking a busy edge again (another command in flight, connection closing). */
  busyRetryMs: env.duration('FW_COMMAND_BUSY_RETRY', { default: 1_000, minMs: 10 }),
  /** Batches handled at once per consumer (each dispatch batch holds a database connection while it asks the edges). */
  concurrency: env.int('FW_COMMAND_CONCURRENCY', { default: 4, min: 1, max: 256 }),
  /** Work items (dispatch items, device answers) per batch: one transaction or statement for all of them. */
  batch: env.int('FW_COMMAND_BATCH', { default: 200, min: 1, max: 10_000 }),
  /** How long the first item of a batch waits for company while a batch slot is free. */
  batchLingerMs: env.duration('FW_COMMAND_BATCH_LINGER', { default: 2, minMs: 0 }),
};
