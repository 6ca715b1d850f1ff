import type { DeviceLogStore } from '@fleetwire/device-logs';
import type { CommandLedger } from '@fleetwire/ledger';
import type { Logger, Sql } from '@fleetwire/runtime';
import Fastify from 'fastify';
import type { DeviceChannel } from './adapters/device-channel.ts';
import type { HeldHost } from './adapters/held-retries-view.ts';
import { StatsStore } from './adapters/stats-store.ts';
import type { DeadLetter } from './adapters/webhook-store.ts';
import auth from './plugins/auth.ts';
import errors from './plugins/errors.ts';
import openapi from './plugins/openapi.ts';
import requestContext from './plugins/request-context.ts';
import stores from './plugins/stores.ts';
import validation from './plugins/validation.ts';
import { OneLinePerRequest } from './request-logging.ts';
import apiKeys from './routes/api-keys.ts';
import commands from './routes/commands.ts';
import deviceIdentity from './routes/device-identity.ts';
import deviceLogs from './routes/device-logs.ts';
import devices from './routes/devices.ts';
import fleet from './routes/fleet.ts';
import health from './routes/health.ts';
import provisioningKeys from './routes/provisioning-keys.ts';
import seed from './routes/seed.ts';
import webhooks from './routes/webhooks.ts';

export interface AppDeps {
  sql: Sql;
  ledger: CommandLedger;
  log: Logger;
  maxPageSize: number;
  /** Uploaded device logs (bytes in the object store, rows in device_logs). */
  deviceLogs: DeviceLogStore;
  /** Close orders to the edge holding a device. */
  channel: DeviceChannel;
  /** Puts a dead letter back on the delivery queue; resolves once JetStream acknowledged it. */
  requeueDeadLetter(tenant: string, deadLetter: DeadLetter): Promise<void>;
  /** Webhook retries the notifier holds for failing hosts, per host. */
  heldRetries(tenant: string): Promise<HeldHost[]>;
}

/**
 * The API as plugins: infrastructure first (validation, errors, stores, auth, request context,
 * OpenAPI), then one route plugin per resource. Built the same way in production and in tests.
 */
export async function buildApp(deps: AppDeps) {
  const app = Fastify({
    loggerInstance: deps.log,
    logController: new OneLinePerRequest(),
    bodyLimit: 1024 * 1024,
    requestIdHeader: 'x-request-id',
    routerOptions: { ignoreTrailingSlash: true },
  });
  const startedAt = Date.now();
  const page = { maxPageSize: deps.maxPageSize };

  await app.register(validation);
  await app.register(errors);
  await app.register(stores, { sql: deps.sql });
  await app.register(auth);
  await app.register(requestContext);
  await app.register(openapi);

  await app.register(health);
  await app.register(devices, {
    prefix: '/v1/devices',
    ...page,
    deviceLogs: deps.deviceLogs,
    channel: deps.channel,
  });
  await app.register(deviceIdentity, { prefix: '/v1/devices', channel: deps.channel });
  await app.register(deviceLogs, { prefix: '/v1/devices', ...page, deviceLogs: deps.deviceLogs });
  await app.register(commands, { prefix: '/v1', ledger: deps.ledger, ...page });
  await app.register(webhooks, {
    prefix: '/v1/webhooks',
    ...page,
    requeue: deps.requeueDeadLetter,
    heldRetries: deps.heldRetries,
  });
  await app.register(apiKeys, { prefix: '/v1/api-keys' });
  await app.register(provisioningKeys, { prefix: '/v1/provisioning-keys' });
  await app.register(fleet, { prefix: '/v1/fleet' });
  await app.register(seed, {
    prefix: '/api/v1',
    ledger: deps.ledger,
    stats: new StatsStore(deps.sql),
    startedAt,
  });
  await app.ready();
  return app;
}
