import { env } from '@fleetwire/runtime';

export const edgeTcpConfig = {
  tcpPort: env.int('FW_TCP_PORT', { default: 5027, min: 0, max: 65535 }),
  tcpHost: env.string('FW_TCP_HOST', { default: '0.0.0.0' }),
  /** Tracker logins carry no tenant, so one listener serves one tenant. */
  tenant: env.string('FW_TENANT', {
    default: 'default',
    pattern: /^[A-Za-z0-9_-]{1,64}$/,
    describe: 'a tenant id (1-64 letters, digits, _ or -)',
  }),
  edgeId: env.string('FW_EDGE_ID', {
    optional: true,
    pattern: /^[A-Za-z0-9_-]{1,64}$/,
    describe: 'an edge id (1-64 letters, digits, _ or -)',
  }),
  /** Accept IMEIs that are not in the registry and register them on first login. */
  autoRegister: env.bool('FW_AUTO_REGISTER', { default: false }),
  idleTimeoutMs: env.duration('FW_TCP_IDLE_TIMEOUT', { default: 600_000, minMs: 1_000 }),
  loginTimeoutMs: env.duration('FW_TCP_LOGIN_TIMEOUT', { default: 30_000, minMs: 100 }),
  /** Largest data frame accepted (Teltonika documents 1280-byte AVL packets; camera chunks are larger). */
  maxFrameBytes: env.int('FW_TCP_MAX_FRAME', { default: 65_536, min: 1_280, max: 1_048_576 }),
  publishTimeoutMs: env.duration('FW_PUBLISH_TIMEOUT', { default: 5_000, minMs: 100 }),
  /**
   * Publishes wait up to this long to share one socket write with later ones; 0 = only those of one
   * event-loop turn share a write. Trades that much reply latency for CPU in the edge and nats-server.
   */
  publishLingerMs: env.duration('FW_TCP_PUBLISH_LINGER', { default: 2 }),
  /** How long a sent command may wait for the tracker's response before the next one may go out. */
  commandTimeoutMs: env.duration('FW_TCP_COMMAND_TIMEOUT', { default: 60_000, minMs: 100 }),
  /** On shutdown, connections are closed spread over this window so trackers do not reconnect all at once. */
  drainSpreadMs: env.duration('FW_TCP_DRAIN_SPREAD', { default: 5_000 }),
};
