import { env } from '@fleetwire/runtime';

export const apiConfig = {
  /** The REST API's own port, besides the runtime's ops port (0 = any free port, for tests). */
  apiPort: env.int('API_PORT', { default: 8080, min: 0, max: 65535 }),
  apiHost: env.string('FW_API_HOST', { default: '0.0.0.0' }),
  /** The seed gateway's single key: ensured as a key of the default tenant at start-up (only its hash is kept). */
  seedApiKey: env.string('IOT_API_KEY', { optional: true, secret: true }),
  /** Same as IOT_API_KEY; the local stack passes one so the API is usable out of the box. */
  devApiKey: env.string('FW_API_DEV_KEY', { optional: true, secret: true }),
  maxPageSize: env.int('FW_API_MAX_PAGE', { default: 500, min: 1, max: 10_000 }),
  /** How often the rows of device logs older than the log bucket's TTL are deleted. */
  deviceLogPruneEveryMs: env.duration('FW_DEVICE_LOG_PRUNE_EVERY', { default: 3_600_000, minMs: 1_000 }),
};
