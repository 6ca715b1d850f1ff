import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { notFound } from '../errors.ts';
import { errors, IdParams, IsoTime } from '../schemas/common.ts';

const tags = ['api-keys'];

const ApiKey = Type.Object({ id: Type.String(), name: Type.String(), createdAt: IsoTime });
const CreatedApiKey = Type.Object({
  ...ApiKey.properties,
  key: Type.String({ description: 'shown once; only its SHA-256 is stored' }),
});
const CreateApiKeyBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);

/** /v1/api-keys: operators manage their tenant's keys with a key they already have. */
const apiKeys: FastifyPluginAsyncTypebox = async (app) => {
  const store = app.stores.apiKeys;

  app.post(
    '',
    { schema: { tags, body: CreateApiKeyBody, response: { 201: CreatedApiKey, ...errors(400) } } },
    async (request, reply) => {
      const created = await store.create(request.principal.tenant, request.body.name);
      request.log.info({ apiKeyId: created.id, by: request.principal.keyId }, 'API key created');
      return reply.status(201).send(created);
    },
  );

  app.get(
    '',
    { schema: { tags, response: { 200: Type.Object({ items: Type.Array(ApiKey) }) } } },
    async (request) => ({ items: await store.list(request.principal.tenant) }),
  );

  app.delete(
    '/:id',
    { schema: { tags, params: IdParams, response: { 204: Type.Null(), ...errors(404) } } },
    async (request, reply) => {
      if (!(await store.revoke(request.principal.tenant, request.params.id))) {
        throw notFound('API key', request.params.id);
      }
      request.log.info({ apiKeyId: request.params.id, by: request.principal.keyId }, 'API key revoked');
      return reply.status(204).send(null);
    },
  );
};

export default apiKeys;
