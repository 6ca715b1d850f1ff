import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { API_ERROR, ApiError } from '../errors.ts';
import { fieldOf } from './validation.ts';

interface ErrorAnswer {
  status: number;
  code: string;
  message: string;
  field?: string;
}

/** Ledger errors carry a stable code; each maps to the status its documentation promises. */
const LEDGER_STATUS: Record<string, { status: number; code: string }> = {
  UNKNOWN_DEVICE: { status: 404, code: API_ERROR.UNKNOWN_DEVICE },
  NOT_FOUND: { status: 404, code: API_ERROR.NOT_FOUND },
  IDEMPOTENCY_CONFLICT: { status: 409, code: API_ERROR.IDEMPOTENCY_CONFLICT },
  INVALID_TRANSITION: { status: 409, code: API_ERROR.INVALID_TRANSITION },
  INVALID_INPUT: { status: 400, code: API_ERROR.VALIDATION },
};

function describe(e: { keyword: string; message?: string }): string {
  if (e.keyword === 'required') return 'is required';
  if (e.keyword === 'additionalProperties') return 'is not allowed';
  return e.message ?? 'is invalid';
}

function answerFor(err: FastifyError): ErrorAnswer {
  if (err.validation && err.validation.length > 0) {
    const first = err.validation[0]!;
    const field = fieldOf(err.validationContext ?? 'request', first);
    return { status: 400, code: API_ERROR.VALIDATION, message: `${field} ${describe(first)}`, field };
  }
  if (err instanceof ApiError) {
    return { status: err.statusCode, code: err.code, message: err.message, field: err.field };
  }
  if (err.name === 'LedgerError' && LEDGER_STATUS[err.code]) {
    const mapped = LEDGER_STATUS[err.code]!;
    return { status: mapped.status, code: mapped.code, message: err.message };
  }
  if (err.name === 'PublishError') {
    // JetStream did not acknowledge in time: nothing was changed, the client may retry.
    return { status: 503, code: API_ERROR.BUS_UNAVAILABLE, message: 'message bus unavailable, retry later' };
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    // Fastify's own client errors (malformed JSON, unsupported media type, body too large).
    const isBody = err.code?.startsWith('FST_ERR_CTP_') ?? false;
    return {
      status,
      code: isBody && status === 400 ? API_ERROR.VALIDATION : (err.code ?? 'BAD_REQUEST'),
      message: err.message,
      ...(isBody && status === 400 ? { field: 'body' } : {}),
    };
  }
  return { status: 500, code: API_ERROR.INTERNAL, message: 'internal error' };
}

/** One error shape for every answer: `{ error: { code, message, field? } }`; 5xx never tell internals. */
export default fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((err: FastifyError, request, reply) => {
      const answer = answerFor(err);
      if (answer.status >= 500) request.log.error({ err }, 'request failed');
      else request.log.info({ code: answer.code, field: answer.field }, answer.message);
      const body = {
        code: answer.code,
        message: answer.message,
        ...(answer.field ? { field: answer.field } : {}),
      };
      return reply.status(answer.status).send({ error: body });
    });
    app.setNotFoundHandler((request, reply) =>
      reply.status(404).send({
        error: {
          code: API_ERROR.NOT_FOUND,
          message: `no route ${request.method} ${request.url.split('?')[0]}`,
        },
      }),
    );
  },
  { name: 'errors' },
);
