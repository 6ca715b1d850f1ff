import { ConfigError, type ConfigOf, type EnvVar, env, parseDuration } from '@fleetwire/runtime';

/** Long enough in total (~1 h) that a host down for ten minutes still gets everything afterwards. */
export const DEFAULT_BACKOFF_MS = [1, 5, 15, 30, 60, 120, 300, 600, 900, 1800].map((s) => s * 1000);

/** `1s,5s,1m` → [1000, 5000, 60000]; each value at least 100 ms. */
function durationList(variable: string, fallback: number[]): EnvVar<number[]> {
  return {
    variable,
    expects: 'a comma-separated list of durations such as 1s,5s,1m (each at least 100ms)',
    fallback,
    optional: false,
    secret: false,
    parse(raw) {
      const values = raw.split(',').map((part) => parseDuration(part));
      if (values.some((ms) => ms < 100) || values.length > 50) throw new Error('out of range');
      return values;
    },
  };
}

export const notifierConfig = {
  /** The seed gateway's single webhook target (its variable name is kept for compatibility). */
  notificationUrl: env.url('NOTIFICATION_URL', { protocols: ['http:', 'https:'], optional: true }),
  /** Signs deliveries to NOTIFICATION_URL; required when it is set (checked by checkNotifierConfig). */
  webhookSecret: env.string('FW_WEBHOOK_SECRET', { optional: true, secret: true }),
  telemetryWebhookEnabled: env.bool('TELEMETRY_WEBHOOK_ENABLED', { default: false }),
  timeoutMs: env.duration('FW_WEBHOOK_TIMEOUT', { default: 5_000, minMs: 100 }),
  backoffMs: durationList('FW_WEBHOOK_BACKOFF', DEFAULT_BACKOFF_MS),
  concurrency: env.int('FW_WEBHOOK_CONCURRENCY', { default: 32, min: 1, max: 1_000 }),
  /** How often a dead letter that PostgreSQL refused is tried again; its delivery stays queued meanwhile. */
  deadLetterRetryMs: env.duration('FW_WEBHOOK_DEAD_LETTER_RETRY', { default: 5_000, minMs: 100 }),
};

export type NotifierConfig = ConfigOf<typeof notifierConfig>;

/** Rules that span variables, which the per-variable spec cannot express. Throws like loadConfig does. */
export function checkNotifierConfig(config: NotifierConfig): void {
  if (config.notificationUrl !== undefined && config.webhookSecret === undefined) {
    throw new ConfigError([
      'FW_WEBHOOK_SECRET is required when NOTIFICATION_URL is set: expected a non-empty string',
    ]);
  }
}
