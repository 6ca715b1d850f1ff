import type { AddressInfo } from 'node:net';
import { DeviceLogStore, LogTooLargeError } from '@fleetwire/device-logs';
import { EdgeLease, edgeIdOf, PresenceRecorder } from '@fleetwire/edge-kit';
import { TRANSPORT } from '@fleetwire/protocol';
import {
  coalesceSocketWrites,
  JetStreamPublisher,
  provisioningFor,
  runService,
  type ServiceDefinition,
  topologyOf,
} from '@fleetwire/runtime';
import { migrations } from '@fleetwire/schema';
import { Kvm } from '@nats-io/kv';
import { PgIdentityStore } from './adapters/identity.ts';
import { edgeWsConfig } from './config.ts';
import { authenticate } from './domain/sessions.ts';
import { WsEdge } from './edge.ts';
import { buildDeviceApp } from './http/app.ts';
import { edgeWsMetrics } from './metrics.ts';

/** A tenant's heartbeat is at least 1 s (tenants.ws_heartbeat_ms), so the sweep never needs to run faster. */
const MIN_TENANT_HEARTBEAT_MS = 1_000;
const SESSION_CLEANUP_EVERY_MS = 60 * 60_000;
/** Sessions are deleted a day after they expired: until then a device still hears "expired", not "unknown". */
const EXPIRED_SESSION_GRACE_MS = 24 * 60 * 60_000;
/** A command is refused (503, retry) while this much is still waiting to be written to its device. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

export interface EdgeWsInstance {
  port: number;
  edge: WsEdge;
  stop(): Promise<void>;
}

export const edgeWs: ServiceDefinition<typeof edgeWsConfig, EdgeWsInstance> = {
  name: 'edge-ws',
  defaultHttpPort: 9416,
  config: edgeWsConfig,
  migrations,
  provisioning: (cfg) =>
    provisioningFor(topologyOf(cfg), {
      streams: ['TELEMETRY', 'DEVICE_EVENTS', 'PRESENCE'],
      kv: ['presence', 'edges'],
      objectStores: ['deviceLogs'],
    }),
  async start(ctx) {
    const { config, nats, log } = ctx;
    const sql = ctx.sql!;
    const topology = topologyOf(config);
    const edgeId = edgeIdOf(config);
    const metrics = edgeWsMetrics(ctx.metrics);
    // Answers to command requests, subscriptions and close orders of many devices per turn: one
    // socket write per event-loop turn instead of one per callback. The outbound buffer stays one
    // FIFO, so a subscription still leaves before the presence write that follows it.
    coalesceSocketWrites(nats.nc);
    // Uplinks (a command's ack and result, telemetry) leave as PUB/HPUB frames written into one
    // buffer per turn: nats.js's publish built a protocol line, a headers object and three buffers
    // per message, about a tenth of what the edge allocated per command. Costs at most one turn.
    const publisher = new JetStreamPublisher(nats.nc, {
      timeoutMs: config.publishTimeoutMs,
      coalesceWrites: true,
    });
    const kv = await new Kvm(nats.js).open(topology.kv.presence.bucket);
    const presence = new PresenceRecorder({
      kv,
      publisher,
      subjects: topology.subjects,
      edgeId,
      transport: TRANSPORT.WS,
      log,
    });
    const identity = new PgIdentityStore(sql, (statement, size) => {
      metrics.dbStatements.inc({ statement });
      metrics.dbRequests.inc({ statement }, size);
    });
    const logs = await DeviceLogStore.open({
      sql,
      js: nats.js,
      bucket: topology.objectStores.deviceLogs.bucket,
      retentionMs: topology.objectStores.deviceLogs.ttlMs,
      log,
    });
    const edge = new WsEdge(
      {
        nc: nats.nc,
        subjects: topology.subjects,
        publisher,
        presence,
        metrics,
        log,
        maxFrameBytes: config.maxFrameBytes,
        rate: { ratePerSec: config.ratePerSec, burst: config.burst },
        handshakeTimeoutMs: config.handshakeTimeoutMs,
        maxBufferedBytes: MAX_BUFFERED_BYTES,
      },
      { sweepEveryMs: Math.max(25, Math.min(config.heartbeatMs, MIN_TENANT_HEARTBEAT_MS) / 2) },
    );
    const app = await buildDeviceApp({
      edge,
      identity,
      authenticate: (headers) => authenticate(identity, headers, config.heartbeatMs),
      logs,
      isLogTooLarge: (err) => err instanceof LogTooLargeError,
      metrics,
      log,
      config,
    });
    const lease = new EdgeLease({
      kv: await new Kvm(nats.js).open(topology.kv.edges.bucket),
      edgeId,
      transport: TRANSPORT.WS,
      ttlMs: config.edgeLeaseTtlMs,
      log,
      onLost: () => edge.closeAll(),
    });
    await lease.start();
    await app.listen({ port: config.wsPort, host: config.wsHost });
    const port = (app.server.address() as AddressInfo).port;

    const cleanup = setInterval(() => {
      identity.removeExpiredSessions(EXPIRED_SESSION_GRACE_MS).then(
        (removed) => removed > 0 && log.info({ removed }, 'expired device sessions removed'),
        (err: Error) => log.warn({ err: err.message }, 'expired session cleanup failed'),
      );
    }, SESSION_CLEANUP_EVERY_MS);
    cleanup.unref();

    log.info({ port, edgeId }, 'accepting WebSocket devices');
    return {
      port,
      edge,
      async stop() {
        clearInterval(cleanup);
        await edge.drain(config.drainSpreadMs);
        await lease.stop();
        await app.close();
        await publisher.close();
      },
    };
  },
};

if (import.meta.main) await runService(edgeWs);
