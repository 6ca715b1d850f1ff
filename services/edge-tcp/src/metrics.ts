import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export function edgeTcpMetrics(registry: Registry) {
  const p = 'fleetwire_edge_tcp_';
  const metrics = {
    connections: new Gauge({
      name: `${p}connections`,
      help: 'Open tracker connections',
      registers: [registry],
    }),
    logins: new Counter({
      name: `${p}logins_total`,
      help: 'Login attempts by result',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    packets: new Counter({
      name: `${p}packets_total`,
      help: 'AVL packets by outcome (acked, or the reason they were not)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    records: new Counter({
      name: `${p}records_total`,
      help: 'AVL records acknowledged',
      registers: [registry],
    }),
    heartbeats: new Counter({
      name: `${p}heartbeats_total`,
      help: '0xFF heartbeat bytes',
      registers: [registry],
    }),
    ackLatency: new Histogram({
      name: `${p}ack_latency_seconds`,
      help: 'From a complete AVL packet to its record-count reply (includes the JetStream round trip)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    commands: new Counter({
      name: `${p}commands_total`,
      help: 'Downlink commands by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    closes: new Counter({
      name: `${p}closes_total`,
      help: 'Closed connections by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
  };
  // Bound once: resolving the label set on every packet showed in the profile.
  return { ...metrics, ackedPackets: metrics.packets.labels({ outcome: 'acked' }) };
}

export type EdgeTcpMetrics = ReturnType<typeof edgeTcpMetrics>;
