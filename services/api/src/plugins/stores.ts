import type { Sql } from '@fleetwire/runtime';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiKeyStore } from '../adapters/api-key-store.ts';
import { DeviceStore } from '../adapters/device-store.ts';
import { FleetStore } from '../adapters/fleet-store.ts';
import { ProvisioningKeyStore } from '../adapters/provisioning-key-store.ts';
import { SessionStore } from '../adapters/session-store.ts';
import { TelemetryReader } from '../adapters/telemetry-store.ts';
import { WebhookStore } from '../adapters/webhook-store.ts';

export interface Stores {
  devices: DeviceStore;
  telemetry: TelemetryReader;
  apiKeys: ApiKeyStore;
  webhooks: WebhookStore;
  sessions: SessionStore;
  provisioningKeys: ProvisioningKeyStore;
  fleet: FleetStore;
}

declare module 'fastify' {
  interface FastifyInstance {
    stores: Stores;
  }
}

/** The PostgreSQL repositories; the pool itself belongs to the runtime, which closes it. */
export default fp(
  async (app: FastifyInstance, opts: { sql: Sql }) => {
    const apiKeys = new ApiKeyStore(opts.sql);
    // Cached key lookups are dropped on every key change, whichever API instance made it.
    const stopWatching = await apiKeys.watchChanges();
    app.addHook('onClose', stopWatching);
    app.decorate('stores', {
      devices: new DeviceStore(opts.sql),
      telemetry: new TelemetryReader(opts.sql),
      apiKeys,
      webhooks: new WebhookStore(opts.sql),
      sessions: new SessionStore(opts.sql),
      provisioningKeys: new ProvisioningKeyStore(opts.sql),
      fleet: new FleetStore(opts.sql),
    });
  },
  { name: 'stores' },
);
