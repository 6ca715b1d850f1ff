import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { HeldHost as HeldHostRow } from '../adapters/held-retries-view.ts';
import type { DeadLetter as DeadLetterRow } from '../adapters/webhook-store.ts';
import { API_ERROR, ApiError, notFound } from '../errors.ts';
import { decodeCursor, pageSize, toPage } from '../paging.ts';
import { errors, IdParams, page } from '../schemas/common.ts';
import {
  CreatedWebhook,
  CreateWebhookBody,
  DeadLetter,
  DeadLetterQuery,
  HeldHost,
  Webhook,
} from '../schemas/webhooks.ts';

const tags = ['webhooks'];

export interface WebhookRoutesOptions {
  maxPageSize: number;
  /** Puts a dead letter back on the delivery queue; resolves once JetStream acknowledged it. */
  requeue(tenant: string, deadLetter: DeadLetterRow): Promise<void>;
  /** Retries the notifier holds for failing hosts, per host. */
  heldRetries(tenant: string): Promise<HeldHostRow[]>;
}

/** /v1/webhooks: subscriptions, and the dead letters the notifier gave up on. */
const webhooks: FastifyPluginAsyncTypebox<WebhookRoutesOptions> = async (app, opts) => {
  const store = app.stores.webhooks;

  app.post(
    '',
    { schema: { tags, body: CreateWebhookBody, response: { 201: CreatedWebhook, ...errors(400) } } },
    async (request, reply) => {
      const secret = request.body.secret ?? randomBytes(32).toString('base64url');
      const created = await store.create(request.principal.tenant, {
        url: request.body.url,
        secret,
        events: request.body.events ?? [],
      });
      request.log.info({ webhookId: created.id, events: created.events }, 'webhook subscribed');
      return reply.status(201).send({ ...created, secret });
    },
  );

  app.get(
    '',
    { schema: { tags, response: { 200: Type.Object({ items: Type.Array(Webhook) }) } } },
    async (request) => ({
      items: await store.list(request.principal.tenant),
    }),
  );

  app.get(
    '/dead-letters',
    { schema: { tags, querystring: DeadLetterQuery, response: { 200: page(DeadLetter), ...errors(400) } } },
    async (request) => {
      const size = pageSize(request.query.limit, opts.maxPageSize);
      const [deadAt, id] = decodeCursor(request.query.cursor, ['string', 'string']) as [string?, string?];
      const rows = await store.deadLetters(request.principal.tenant, {
        limit: size,
        before: deadAt === undefined ? undefined : { deadAt, id: id! },
        replayed: request.query.replayed,
      });
      return toPage(
        rows,
        size,
        (r) => r.item,
        (r) => r.key,
      );
    },
  );

  app.get(
    '/held',
    {
      schema: {
        tags,
        description:
          'Retries waiting for a failing host, per host: the notifier holds them until they come due, ' +
          'and sends them at once when the host answers again. Nothing here is lost; a retry that ' +
          'fails its last attempt becomes a dead letter.',
        response: { 200: Type.Object({ items: Type.Array(HeldHost) }), ...errors(503) },
      },
    },
    async (request) => {
      try {
        return { items: await opts.heldRetries(request.principal.tenant) };
      } catch (err) {
        request.log.warn({ err: String(err) }, 'held retries could not be read from NATS');
        throw new ApiError(API_ERROR.BUS_UNAVAILABLE, 'message bus unavailable, retry later');
      }
    },
  );

  app.post(
    '/dead-letters/:id/replay',
    {
      schema: {
        tags,
        description: 'Queues the delivery again (once JetStream has it, the row is marked replayed).',
        params: IdParams,
        response: { 200: DeadLetter, ...errors(404, 409, 503) },
      },
    },
    async (request) => {
      const { tenant } = request.principal;
      const outcome = await store.replay(tenant, request.params.id, (row) => opts.requeue(tenant, row));
      if (outcome.result === 'not-found') throw notFound('dead letter', request.params.id);
      if (outcome.result === 'already-replayed') {
        throw new ApiError(
          API_ERROR.ALREADY_REPLAYED,
          `dead letter was already replayed at ${outcome.replayedAt}`,
        );
      }
      request.log.info(
        { deadLetterId: request.params.id, eventId: outcome.deadLetter.eventId },
        'dead letter replayed',
      );
      return outcome.deadLetter;
    },
  );

  app.get(
    '/:id',
    { schema: { tags, params: IdParams, response: { 200: Webhook, ...errors(404) } } },
    async (request) => {
      const found = await store.get(request.principal.tenant, request.params.id);
      if (!found) throw notFound('webhook', request.params.id);
      return found;
    },
  );

  app.delete(
    '/:id',
    { schema: { tags, params: IdParams, response: { 204: Type.Null(), ...errors(404) } } },
    async (request, reply) => {
      if (!(await store.delete(request.principal.tenant, request.params.id))) {
        throw notFound('webhook', request.params.id);
      }
      request.log.info({ webhookId: request.params.id }, 'webhook deleted');
      return reply.status(204).send(null);
    },
  );
};

export default webhooks;
