import type { Logger } from '@fleetwire/runtime';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What `:id` in this route's path names, so log lines carry it as deviceId or commandId. */
    idParam?: 'deviceId' | 'commandId';
  }
}

/**
 * Adds bindings to the request's logger in place. request.log is already the request's own child
 * logger (fastify's, carrying reqId; reply.log is the same object) and a pino logger (buildApp passes
 * one), so extending its bindings costs a fraction of creating yet another child per request.
 */
export function bindRequestLog(request: FastifyRequest, bindings: Record<string, unknown>): void {
  (request.log as Logger).setBindings(bindings);
}

/**
 * After validation, binds the device and command a request is about to its logger, so every line it
 * logs (including "request completed") can be found by deviceId / commandId.
 */
export default fp(
  async (app: FastifyInstance) => {
    app.addHook('preHandler', async (request) => {
      const params = (request.params ?? {}) as Record<string, unknown>;
      const body = (request.body ?? {}) as Record<string, unknown>;
      const query = (request.query ?? {}) as Record<string, unknown>;
      const ids: Record<string, unknown> = {};
      const idParam = request.routeOptions.config.idParam;
      if (idParam && typeof params.id === 'string') ids[idParam] = params.id;
      const deviceId = params.imei ?? body.imei ?? query.deviceId;
      if (typeof deviceId === 'string') ids.deviceId = deviceId;
      if (Object.keys(ids).length === 0) return;
      bindRequestLog(request, ids);
    });
  },
  { name: 'request-context' },
);
