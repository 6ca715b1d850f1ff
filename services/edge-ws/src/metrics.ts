import { Counter, Gauge, type Registry } from 'prom-client';

export function edgeWsMetrics(registry: Registry) {
  const p = 'fleetwire_edge_ws_';
  return {
    connections: new Gauge({
      name: `${p}connections`,
      help: 'Open device WebSocket connections (upgraded, accepted or not yet)',
      registers: [registry],
    }),
    sessions: new Counter({
      name: `${p}sessions_total`,
      help: 'Session starts by outcome: started, provisioned, or the refusal code',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    upgradesRefused: new Counter({
      name: `${p}upgrades_refused_total`,
      help: 'WebSocket upgrades refused before any frame, by error code',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    frames: new Counter({
      name: `${p}frames_total`,
      help: 'Frames received from devices, by proto',
      labelNames: ['proto'] as const,
      registers: [registry],
    }),
    errors: new Counter({
      name: `${p}errors_total`,
      help: 'control/error frames sent to devices, by code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    acks: new Counter({
      name: `${p}acks_total`,
      help: 'control/ack frames sent (uplink messages with a msgid that became durable)',
      registers: [registry],
    }),
    commands: new Counter({
      name: `${p}commands_total`,
      help: 'Downlink command requests by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    closes: new Counter({
      name: `${p}closes_total`,
      help: 'Closed connections by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    dbStatements: new Counter({
      name: `${p}db_statements_total`,
      help: 'Batched session statements run (session starts and upgrade checks of one event-loop turn share one)',
      labelNames: ['statement'] as const,
      registers: [registry],
    }),
    dbRequests: new Counter({
      name: `${p}db_requests_total`,
      help: 'Session starts and upgrade checks carried by the batched statements',
      labelNames: ['statement'] as const,
      registers: [registry],
    }),
    logUploads: new Counter({
      name: `${p}log_uploads_total`,
      help: 'Log uploads by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
  };
}

export type EdgeWsMetrics = ReturnType<typeof edgeWsMetrics>;
