import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { API_ERROR, ApiError } from '../errors.ts';
import { bindRequestLog } from './request-context.ts';

export interface Principal {
  tenant: string;
  keyId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every route but the public ones. */
    principal: Principal;
  }
  interface FastifyContextConfig {
    /** Reachable without an API key. */
    public?: boolean;
  }
}

const isPublic = (request: FastifyRequest) =>
  request.routeOptions.config.public === true || (request.routeOptions.url ?? '').startsWith('/docs');

/**
 * `x-api-key` on every route but the docs and health: the key's tenant scopes every query that follows.
 * Runs on onRequest, before the body is even read, so a request without a valid key changes nothing.
 */
export default fp(
  async (app: FastifyInstance) => {
    app.decorateRequest('principal', null as unknown as Principal);
    app.addHook('onRequest', async (request) => {
      if (isPublic(request)) return;
      const key = request.headers['x-api-key'];
      if (typeof key !== 'string' || key.length === 0) {
        throw new ApiError(API_ERROR.UNAUTHORIZED, 'x-api-key header required');
      }
      const principal = await app.stores.apiKeys.authenticate(key);
      if (!principal) throw new ApiError(API_ERROR.UNAUTHORIZED, 'invalid API key');
      request.principal = principal;
      bindRequestLog(request, { tenant: principal.tenant });
    });
  },
  { name: 'auth', dependencies: ['stores', 'errors'] },
);
