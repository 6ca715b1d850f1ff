import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { notFound } from '../errors.ts';
import { errors, IdParams } from '../schemas/common.ts';
import { CreatedProvisioningKey, CreateProvisioningKeyBody, ProvisioningKey } from '../schemas/identity.ts';

const tags = ['provisioning-keys'];

/**
 * /v1/provisioning-keys: fleet keys with which unknown WebSocket devices register themselves at
 * their first session start (never a session for a device that already exists).
 */
const provisioningKeys: FastifyPluginAsyncTypebox = async (app) => {
  const store = app.stores.provisioningKeys;

  app.post(
    '',
    {
      schema: {
        tags,
        body: CreateProvisioningKeyBody,
        response: { 201: CreatedProvisioningKey, ...errors(400) },
      },
    },
    async (request, reply) => {
      const created = await store.create(request.principal.tenant, request.body.name);
      request.log.info(
        { provisioningKeyId: created.id, by: request.principal.keyId },
        'provisioning key created',
      );
      return reply.status(201).send(created);
    },
  );

  app.get(
    '',
    { schema: { tags, response: { 200: Type.Object({ items: Type.Array(ProvisioningKey) }) } } },
    async (request) => ({ items: await store.list(request.principal.tenant) }),
  );

  app.delete(
    '/:id',
    {
      schema: {
        tags,
        description:
          'Revokes the key: no further registrations with it (devices it registered keep working).',
        params: IdParams,
        response: { 204: Type.Null(), ...errors(404) },
      },
    },
    async (request, reply) => {
      if (!(await store.revoke(request.principal.tenant, request.params.id))) {
        throw notFound('provisioning key', request.params.id);
      }
      request.log.info(
        { provisioningKeyId: request.params.id, by: request.principal.keyId },
        'provisioning key revoked',
      );
      return reply.status(204).send(null);
    },
  );
};

export default provisioningKeys;
