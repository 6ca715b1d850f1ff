import { env } from '@fleetwire/runtime';

export const edgeWsConfig = {
  /** Device HTTP (sessions, log uploads) and WebSocket port; 0 = any free port (tests). */
  wsPort: env.int('FW_WS_PORT', { default: 8090, min: 0, max: 65535 }),
  wsHost: env.string('FW_WS_HOST', { default: '0.0.0.0' }),
  edgeId: env.string('FW_EDGE_ID', {
    optional: true,
    pattern: /^[A-Za-z0-9_-]{1,64}$/,
    describe: 'an edge id (1-64 letters, digits, _ or -)',
  }),
  /** Heartbeat a device is told to keep when its tenant sets none (tenants.ws_heartbeat_ms). */
  heartbeatMs: env.duration('FW_WS_HEARTBEAT', { default: 5_000, minMs: 100 }),
  sessionTtlMs: env.duration('FW_WS_SESSION_TTL', { default: 86_400_000, minMs: 1 }),
  /** Largest frame handled; up to four times this is answered with 413, beyond that WebSocket close 1009. */
  maxFrameBytes: env.int('FW_WS_MAX_FRAME', { default: 65_536, min: 1_024, max: 1_048_576 }),
  ratePerSec: env.int('FW_WS_RATE', { default: 50, min: 1, max: 100_000 }),
  burst: env.int('FW_WS_BURST', { default: 100, min: 1, max: 100_000 }),
  /** How long after the upgrade a device has to send control/open. */
  handshakeTimeoutMs: env.duration('FW_WS_HANDSHAKE_TIMEOUT', { default: 10_000, minMs: 100 }),
  logMaxBytes: env.int('FW_WS_LOG_MAX_BYTES', { default: 10 * 1024 * 1024, min: 1, max: 1024 ** 3 }),
  /** On shutdown, connections are closed spread over this window so devices do not reconnect at once. */
  drainSpreadMs: env.duration('FW_WS_DRAIN_SPREAD', { default: 5_000 }),
  publishTimeoutMs: env.duration('FW_PUBLISH_TIMEOUT', { default: 5_000, minMs: 100 }),
};
