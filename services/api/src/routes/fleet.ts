import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { notFound } from '../errors.ts';
import { errors } from '../schemas/common.ts';
import { Fleet, PatchFleetBody } from '../schemas/fleet.ts';

const tags = ['fleet'];

/** /v1/fleet: settings of the calling tenant's whole fleet. */
const fleet: FastifyPluginAsyncTypebox = async (app) => {
  const store = app.stores.fleet;

  app.get('', { schema: { tags, response: { 200: Fleet, ...errors(404) } } }, async (request) => {
    const found = await store.get(request.principal.tenant);
    if (!found) throw notFound('tenant', request.principal.tenant);
    return found;
  });

  app.patch(
    '',
    {
      schema: {
        tags,
        description: 'WebSocket devices get the new heartbeat at their next connection.',
        body: PatchFleetBody,
        response: { 200: Fleet, ...errors(400, 404) },
      },
    },
    async (request) => {
      const updated = await store.setHeartbeat(request.principal.tenant, request.body.wsHeartbeatMs);
      if (!updated) throw notFound('tenant', request.principal.tenant);
      request.log.info({ wsHeartbeatMs: updated.wsHeartbeatMs }, 'fleet heartbeat set');
      return updated;
    },
  );
};

export default fleet;
