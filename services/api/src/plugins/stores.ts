import type { Sql } from '@fleetwire/runtime';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiKeyStore } from '../adapters/api-key-store.ts';
import { DeviceStore } from '../adapters/device-store.ts';
import { TelemetryReader } from '../adapters/telemetry-store.ts';
import { WebhookStore } from '../adapters/webhook-store.ts';

export interface Stores {
  devices: DeviceStore;
  telemetry: TelemetryReader;
  apiKeys: ApiKeyStore;
  webhooks: WebhookStore;
}

declare module 'fastify' {
  interface FastifyInstance {
    stores: Stores;
  }
}

/** The PostgreSQL repositories; the pool itself belongs to the runtime, which closes it. */
export default fp(
  async (app: FastifyInstance, opts: { sql: Sql }) => {
    app.decorate('stores', {
      devices: new DeviceStore(opts.sql),
      telemetry: new TelemetryReader(opts.sql),
      apiKeys: new ApiKeyStore(opts.sql),
      webhooks: new WebhookStore(opts.sql),
    });
  },
  { name: 'stores' },
);
