import Ajv, { type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

function ajv(coerceTypes: false | 'array') {
  // removeAdditional off: an unknown body field is an error the client should hear about, not a silent drop.
  const instance = new Ajv.default({
    coerceTypes,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
  });
  addFormats.default(instance);
  return instance;
}

/**
 * Bodies are validated as sent (a number is not a string); querystrings, params and headers arrive
 * as text, so those are coerced to the schema's types.
 */
export default fp(
  async (app: FastifyInstance) => {
    const strict = ajv(false);
    const coercing = ajv('array');
    app.setValidatorCompiler(({ schema, httpPart }) =>
      (httpPart === 'body' ? strict : coercing).compile(schema),
    );
  },
  { name: 'validation' },
);

/** `body.tags.0`, `querystring.limit`: the input an ajv error is about. */
export function fieldOf(
  context: string,
  e: Pick<ErrorObject, 'instancePath' | 'keyword' | 'params'>,
): string {
  const path = e.instancePath
    .split('/')
    .slice(1)
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = e.params as { missingProperty?: string; additionalProperty?: string };
  if (e.keyword === 'required' && params.missingProperty) path.push(params.missingProperty);
  if (e.keyword === 'additionalProperties' && params.additionalProperty) path.push(params.additionalProperty);
  return [context, ...path].join('.');
}
