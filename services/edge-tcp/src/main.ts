import { PresenceRecorder } from '@fleetwire/edge-kit';
import {
  DEFAULT_TENANT,
  jetStreamTopology,
  parseEdgeId,
  parseTenantId,
  TRANSPORT,
} from '@fleetwire/protocol';
import { JetStreamPublisher, provisioningFor, runService, type ServiceDefinition } from '@fleetwire/runtime';
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
    provisioningFor(jetStreamTopology({ root: cfg.subjectRoot }), {
      streams: ['TELEMETRY', 'DEVICE_EVENTS', 'PRESENCE'],
      kv: ['presence'],
    }),
  async start(ctx) {
    const { config, nats, log } = ctx;
    const topology = jetStreamTopology({ root: config.subjectRoot });
    const edgeId = parseEdgeId(
      config.edgeId ?? config.instanceId.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64),
    );
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
    const port = await server.listen(config.tcpPort, config.tcpHost);
    log.info({ port, edgeId, tenant: config.tenant }, 'accepting trackers');
    return {
      port,
      async stop() {
        await server.drain(config.drainSpreadMs);
        await publisher.close();
      },
    };
  },
};

if (import.meta.main) await runService(edgeTcp);
