import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What `:id` in this route's path names, so log lines carry it as deviceId or commandId. */
    idParam?: 'deviceId' | 'commandId';
  }
}

/**
 * After validation, binds the device and command a request is about to its logger, so every line it
 * logs (including "request completed") can be found by deviceId / commandId.
 */
export default fp(
  async (app: FastifyInstance) => {
    app.addHook('preHandler', async (request, reply) => {
      const params = (request.params ?? {}) as Record<string, unknown>;
      const body = (request.body ?? {}) as Record<string, unknown>;
      const query = (request.query ?? {}) as Record<string, unknown>;
      const ids: Record<string, unknown> = {};
      const idParam = request.routeOptions.config.idParam;
      if (idParam && typeof params.id === 'string') ids[idParam] = params.id;
      const deviceId = params.imei ?? body.imei ?? query.deviceId;
      if (typeof deviceId === 'string') ids.deviceId = deviceId;
      if (Object.keys(ids).length === 0) return;
      request.log = request.log.child(ids);
      reply.log = request.log;
    });
  },
  { name: 'request-context' },
);
