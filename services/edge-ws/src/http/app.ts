import type { Logger } from '@fleetwire/runtime';
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify';
import type { DeviceSession, IdentityStore, TokenHeaders } from '../domain/sessions.ts';
import type { WsEdge } from '../edge.ts';
import type { EdgeWsMetrics } from '../metrics.ts';
import logRoutes, { type LogSink } from './log-routes.ts';
import sessionRoutes from './session-routes.ts';
import { upgradeHandler } from './upgrade.ts';
import { installErrorHandling, validatorCompiler } from './validation.ts';

export interface DeviceAppDeps {
  edge: WsEdge;
  identity: IdentityStore;
  authenticate(headers: TokenHeaders): Promise<DeviceSession>;
  logs: LogSink;
  isLogTooLarge(err: unknown): boolean;
  metrics: EdgeWsMetrics;
  log: Logger;
  config: { sessionTtlMs: number; heartbeatMs: number; logMaxBytes: number };
}

/**
 * The device-facing HTTP server: session start and log upload routes (fastify), and on the same
 * server the WebSocket upgrade of `/device/v1/connect`.
 */
export async function buildDeviceApp(deps: DeviceAppDeps) {
  const logger: FastifyBaseLogger = deps.log;
  const app = Fastify({
    loggerInstance: logger,
    // Per-request lines would dwarf everything else during a reconnect wave; routes log what matters.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    requestIdHeader: false,
    // A device holds one connection; idle HTTP keep-alives (session start, uploads) go quickly.
    keepAliveTimeout: 5_000,
  });
  app.setValidatorCompiler(validatorCompiler);
  installErrorHandling(app);
  await app.register(sessionRoutes, {
    identity: deps.identity,
    metrics: deps.metrics,
    sessionTtlMs: deps.config.sessionTtlMs,
    defaultHeartbeatMs: deps.config.heartbeatMs,
  });
  await app.register(logRoutes, {
    logs: deps.logs,
    isTooLarge: deps.isLogTooLarge,
    authenticate: (request) => deps.authenticate(request.headers),
    maxBytes: deps.config.logMaxBytes,
    metrics: deps.metrics,
  });
  app.server.on(
    'upgrade',
    upgradeHandler({
      edge: deps.edge,
      authenticate: deps.authenticate,
      metrics: deps.metrics,
      log: deps.log,
    }),
  );
  await app.ready();
  return app;
}
