import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * The OpenAPI 3.1 document, built from the route schemas (so it cannot drift from what is
 * validated), served at /openapi.json, with interactive docs at /docs. Registered before the
 * routes: swagger collects them as they are added.
 */
export default fp(
  async (app: FastifyInstance) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'fleetwire API',
          version: '1.0.0',
          description:
            'Device registry and identity, commands, telemetry, device logs and webhooks. Every error is `{ error: { code, message, field? } }`.',
        },
        components: {
          securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
        },
        security: [{ apiKey: [] }],
        tags: [
          { name: 'devices', description: 'device registry, presence, telemetry' },
          { name: 'commands', description: 'commands through the command ledger' },
          { name: 'webhooks', description: 'webhook subscriptions and dead letters' },
          { name: 'api-keys', description: 'API keys of the calling tenant' },
          {
            name: 'provisioning-keys',
            description: 'fleet keys with which new WebSocket devices register themselves',
          },
          { name: 'fleet', description: "settings of the calling tenant's fleet" },
          { name: 'seed', description: "the seed gateway's API, unchanged" },
          { name: 'ops', description: 'health' },
        ],
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    app.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () => app.swagger());
  },
  { name: 'openapi' },
);
