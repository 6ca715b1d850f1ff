import { EdgeLease, edgeIdOf, PresenceRecorder } from '@fleetwire/edge-kit';
import { DEFAULT_TENANT, parseTenantId, TRANSPORT } from '@fleetwire/protocol';
import {
  JetStreamPublisher,
  provisioningFor,
  runService,
  type ServiceDefinition,
  topologyOf,
} from '@fleetwire/runtime';
import { migrations } from '@fleetwire/schema';
import { Kvm } from '@nats-io/kv';
import { TrackerRegistry } from './adapters/registry.ts';
import { edgeTcpConfig } from './config.ts';
import { edgeTcpMetrics } from './metrics.ts';
import { TrackerServer } from './server.ts';

export const edgeTcp: ServiceDefinition<typeof edgeTcpConfig, { port: number; stop(): Promise<void> }> = {
  name: 'edge-tcp',
  defaultHttpPort: 9411,
  config: edgeTcpConfig,
  migrations,
  provisioning: (cfg) =>
    provisioningFor(topologyOf(cfg), {
      streams: ['TELEMETRY', 'DEVICE_EVENTS', 'PRESENCE'],
      kv: ['presence', 'edges'],
    }),
  async start(ctx) {
    const { config, nats, log } = ctx;
    const topology = topologyOf(config);
    const edgeId = edgeIdOf(config);
    const publisher = new JetStreamPublisher(nats.nc, {
      timeoutMs: config.publishTimeoutMs,
      coalesceWrites: true,
      lingerMs: config.publishLingerMs,
    });
    const kv = await new Kvm(nats.js).open(topology.kv.presence.bucket);
    const server = new TrackerServer({
      tenant: parseTenantId(config.tenant ?? DEFAULT_TENANT),
      subjects: topology.subjects,
      nc: nats.nc,
      publisher,
      registry: new TrackerRegistry(ctx.sql!, { autoRegister: config.autoRegister }),
      presence: new PresenceRecorder({
        kv,
        publisher,
        subjects: topology.subjects,
        edgeId,
        transport: TRANSPORT.TCP,
        log,
      }),
      metrics: edgeTcpMetrics(ctx.metrics),
      log,
      config,
    });
    const lease = new EdgeLease({
      kv: await new Kvm(nats.js).open(topology.kv.edges.bucket),
      edgeId,
      transport: TRANSPORT.TCP,
      ttlMs: config.edgeLeaseTtlMs,
      log,
      onLost: () => server.closeAll('edge lost its lease'),
    });
    await lease.start();
    const port = await server.listen(config.tcpPort, config.tcpHost);
    log.info({ port, edgeId, tenant: config.tenant }, 'accepting trackers');
    return {
      port,
      async stop() {
        await server.drain(config.drainSpreadMs);
        await lease.stop();
        await publisher.close();
      },
    };
  },
};

if (import.meta.main) await runService(edgeTcp);
