import type { FastifyError, FastifyInstance, FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import type { TLocalizedValidationError } from 'typebox/error';
import { DEVICE_ERROR, DeviceError } from '../domain/errors.ts';

/**
 * Requests are validated by TypeBox exactly as sent: no coercion, no silently dropped fields. A
 * failure becomes `invalid_request` naming the field as the device wrote it (`identity.mac`, `S[S]`).
 */
export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema }) => {
  const validator = Compile(schema);
  return (data: unknown) => {
    if (validator.Check(data)) return { value: data };
    const worst = mostSpecific(validator.Errors(data));
    return {
      error: worst ? invalidRequest(worst) : new DeviceError(DEVICE_ERROR.INVALID_REQUEST, 'invalid request'),
    };
  };
};

function mostSpecific(errors: TLocalizedValidationError[]): TLocalizedValidationError | undefined {
  const depth = (e: TLocalizedValidationError) => pointer(e.instancePath).length;
  return errors.reduce<TLocalizedValidationError | undefined>(
    (best, e) => (best === undefined || depth(e) > depth(best) ? e : best),
    undefined,
  );
}

function pointer(path: string): string[] {
  return path === ''
    ? []
    : path
        .split('/')
        .slice(1)
        .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function invalidRequest(e: TLocalizedValidationError): DeviceError {
  const segments = pointer(e.instancePath);
  let problem = e.message;
  if (e.keyword === 'required') {
    segments.push(e.params.requiredProperties[0] ?? '');
    problem = 'is required';
  } else if (e.keyword === 'boolean' && e.schemaPath.endsWith('additionalProperties')) {
    problem = 'is not allowed';
  }
  const field = segments.join('.') || 'body';
  return new DeviceError(DEVICE_ERROR.INVALID_REQUEST, `${field} ${problem}`, { field });
}

/** Every refusal is `{error, message, field?}`; 5xx answers never tell internals. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const refusal = toDeviceError(err);
    if (refusal.status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: refusal.code, field: refusal.field }, refusal.message);
    return reply.status(refusal.status).send(refusal.toBody());
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      error: DEVICE_ERROR.NOT_FOUND,
      message: `no route ${request.method} ${request.url.split('?')[0]}`,
    }),
  );
}

function toDeviceError(err: FastifyError): DeviceError {
  if (err instanceof DeviceError) return err;
  const status = err.statusCode ?? 500;
  if (err.code === 'FST_REQ_FILE_TOO_LARGE') return new DeviceError(DEVICE_ERROR.LOG_TOO_LARGE, err.message);
  if (status >= 400 && status < 500) {
    // Fastify's own refusals: malformed JSON, unsupported media type, body too large.
    return new DeviceError(DEVICE_ERROR.INVALID_REQUEST, err.message, { field: 'body' });
  }
  return new DeviceError(DEVICE_ERROR.INTERNAL, 'internal error');
}
