import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { CommandLedger } from '@fleetwire/ledger';
import { LEDGER_ERROR, LedgerError, MAX_PAGE } from '@fleetwire/ledger';
import { parseDeviceId, parseTenantId } from '@fleetwire/protocol';
import { API_ERROR, ApiError } from '../errors.ts';
import { pageSize } from '../paging.ts';
import {
  Command,
  CommandWithTransitions,
  CreateCommandBody,
  IdempotencyHeaders,
  ListCommandsQuery,
} from '../schemas/commands.ts';
import { errors, IdParams, page } from '../schemas/common.ts';

const tags = ['commands'];

export interface CommandRoutesOptions {
  ledger: CommandLedger;
  maxPageSize: number;
}

/** The idempotency key from the body or the Idempotency-Key header; both given must agree. */
function idempotencyKeyOf(body: string | undefined, header: string | undefined): string | undefined {
  if (body !== undefined && header !== undefined && body !== header) {
    throw new ApiError(API_ERROR.VALIDATION, 'Idempotency-Key header and body.idempotencyKey differ', {
      field: 'headers.idempotency-key',
    });
  }
  return body ?? header;
}

/** /v1/devices/:id/commands and /v1/commands: commands through the command ledger (its single owner). */
const commands: FastifyPluginAsyncTypebox<CommandRoutesOptions> = async (app, opts) => {
  const { ledger } = opts;

  app.post(
    '/devices/:id/commands',
    {
      config: { idParam: 'deviceId' },
      schema: {
        tags,
        description:
          'Queues a command: 201 when created, 200 when an idempotency key replays an earlier one.',
        params: IdParams,
        headers: IdempotencyHeaders,
        body: CreateCommandBody,
        response: { 200: Command, 201: Command, ...errors(400, 404, 409) },
      },
    },
    async (request, reply) => {
      const { idempotencyKey, ...body } = request.body;
      const { command, created } = await ledger.create({
        ...body,
        tenant: parseTenantId(request.principal.tenant),
        deviceId: parseDeviceId(request.params.id),
        idempotencyKey: idempotencyKeyOf(idempotencyKey, request.headers['idempotency-key']),
      });
      request.log.info({ commandId: command.id, name: command.name, created }, 'command accepted');
      return reply.status(created ? 201 : 200).send(command);
    },
  );

  app.get(
    '/commands',
    { schema: { tags, querystring: ListCommandsQuery, response: { 200: page(Command), ...errors(400) } } },
    async (request) => {
      const q = request.query;
      try {
        const result = await ledger.list(parseTenantId(request.principal.tenant), {
          deviceId: q.deviceId === undefined ? undefined : parseDeviceId(q.deviceId),
          state: q.state,
          limit: pageSize(q.limit, Math.min(opts.maxPageSize, MAX_PAGE)),
          cursor: q.cursor,
        });
        return { items: result.items, nextCursor: result.nextCursor ?? null };
      } catch (err) {
        if (err instanceof LedgerError && err.code === LEDGER_ERROR.INVALID_INPUT && q.cursor !== undefined) {
          throw new ApiError(API_ERROR.VALIDATION, err.message, { field: 'querystring.cursor', cause: err });
        }
        throw err;
      }
    },
  );

  app.get(
    '/commands/:id',
    {
      config: { idParam: 'commandId' },
      schema: { tags, params: IdParams, response: { 200: CommandWithTransitions, ...errors(404) } },
    },
    async (request) => {
      const tenant = parseTenantId(request.principal.tenant);
      const command = await ledger.get(tenant, request.params.id);
      if (!command) throw new ApiError(API_ERROR.NOT_FOUND, `command ${request.params.id} not found`);
      return { ...command, transitions: await ledger.transitions(tenant, command.id) };
    },
  );

  app.post(
    '/commands/:id/cancel',
    {
      config: { idParam: 'commandId' },
      schema: {
        tags,
        description: 'Cancels a queued, sent or delivered command; 409 once it finished.',
        params: IdParams,
        response: { 200: Command, ...errors(404, 409) },
      },
    },
    async (request) => {
      const cancelled = await ledger.cancel(parseTenantId(request.principal.tenant), request.params.id);
      request.log.info({ deviceId: cancelled.deviceId }, 'command cancelled');
      return cancelled;
    },
  );
};

export default commands;
