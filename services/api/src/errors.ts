/** Stable error codes of the API; each maps to one HTTP status. */
export const API_ERROR = {
  VALIDATION: 'VALIDATION_ERROR',
  UNAUTHORIZED: 'UNAUTHORIZED',
  NOT_FOUND: 'NOT_FOUND',
  UNKNOWN_DEVICE: 'UNKNOWN_DEVICE',
  CONFLICT: 'CONFLICT',
  IDEMPOTENCY_CONFLICT: 'IDEMPOTENCY_CONFLICT',
  INVALID_TRANSITION: 'INVALID_TRANSITION',
  ALREADY_REPLAYED: 'ALREADY_REPLAYED',
  BUS_UNAVAILABLE: 'BUS_UNAVAILABLE',
  INTERNAL: 'INTERNAL_ERROR',
} as const;
export type ApiErrorCode = (typeof API_ERROR)[keyof typeof API_ERROR];

const STATUS: Record<ApiErrorCode, number> = {
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  UNKNOWN_DEVICE: 404,
  CONFLICT: 409,
  IDEMPOTENCY_CONFLICT: 409,
  INVALID_TRANSITION: 409,
  ALREADY_REPLAYED: 409,
  BUS_UNAVAILABLE: 503,
  INTERNAL_ERROR: 500,
};

/** An error meant for the client: its message is shown as is (unless the status is 5xx). */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly statusCode: number;
  readonly field: string | undefined;
  constructor(code: ApiErrorCode, message: string, opts: ErrorOptions & { field?: string } = {}) {
    super(message, opts);
    this.name = 'ApiError';
    this.code = code;
    this.statusCode = STATUS[code];
    this.field = opts.field;
  }
}

export const notFound = (what: string, id: string) =>
  new ApiError(API_ERROR.NOT_FOUND, `${what} ${JSON.stringify(id)} not found`);
export const unknownDevice = (id: string) =>
  new ApiError(API_ERROR.UNKNOWN_DEVICE, `device ${JSON.stringify(id)} is not registered`);
