import { SAFE_TOKEN_PATTERN } from '@fleetwire/protocol';
import Type, { type TSchema } from 'typebox';

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'stable machine-readable code, e.g. VALIDATION_ERROR' }),
      message: Type.String(),
      field: Type.Optional(
        Type.String({ description: 'the offending input, e.g. body.imei or querystring.limit' }),
      ),
    }),
  },
  { description: 'every error answer has this shape' },
);

/** The error answers a route may give, by status, so the OpenAPI document lists them. */
export function errors(...statuses: Array<400 | 401 | 404 | 409 | 503>): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const status of [...statuses, 401, 500]) out[status] = ErrorBody;
  return out;
}

export const Token = (description: string) =>
  Type.String({ pattern: SAFE_TOKEN_PATTERN, description: `${description} (1-64 of A-Z a-z 0-9 _ -)` });

export const IdParams = Type.Object({ id: Token('id') });

export const IsoTime = Type.String({ format: 'date-time' });
export const NullableIsoTime = Type.Union([IsoTime, Type.Null()]);

/** Any JSON object, returned untouched. */
export const JsonObject = Type.Record(Type.String(), Type.Unknown(), { description: 'any JSON object' });

export const Tag = Type.String({
  pattern: '^[A-Za-z0-9_.:=-]{1,64}$',
  description: '1-64 of A-Z a-z 0-9 _ . : = -',
});

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, description: 'page size (capped by FW_API_MAX_PAGE)' })),
  cursor: Type.Optional(
    Type.String({ maxLength: 512, description: 'nextCursor of the previous page, opaque' }),
  ),
};

export function page<T extends TSchema>(item: T) {
  return Type.Object({
    items: Type.Array(item),
    nextCursor: Type.Union([Type.String(), Type.Null()], {
      description: 'pass as cursor for the next page; null on the last page',
    }),
  });
}
