import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { DeviceId } from '@fleetwire/protocol';
import type { FastifyReply } from 'fastify';
import { DeviceError } from '../domain/errors.ts';
import {
  type IdentityStore,
  type ReportedIdentity,
  SESSION_COOKIE,
  type SessionGrant,
  type SessionRequest,
  startSession,
} from '../domain/sessions.ts';
import type { EdgeWsMetrics } from '../metrics.ts';
import { refusals, SeedOpened, SeedOpenQuery, SessionBody, SessionCreated } from './schemas.ts';

export const CONNECT_PATH = '/device/v1/connect';

export interface SessionRoutesOptions {
  identity: IdentityStore;
  metrics: EdgeWsMetrics;
  sessionTtlMs: number;
  defaultHeartbeatMs: number;
}

/** Session start, fleetwire's (`POST /device/v1/sessions`) and the seed device's (`GET /devices/devicesopen`). */
const sessionRoutes: FastifyPluginAsyncTypebox<SessionRoutesOptions> = async (app, opts) => {
  const start = async (request: SessionRequest, reply: FastifyReply): Promise<SessionGrant> => {
    let grant: SessionGrant;
    try {
      grant = await startSession(opts.identity, request, {
        ttlMs: opts.sessionTtlMs,
        defaultHeartbeatMs: opts.defaultHeartbeatMs,
      });
    } catch (err) {
      if (err instanceof DeviceError) opts.metrics.sessions.inc({ outcome: err.code });
      throw err;
    }
    opts.metrics.sessions.inc({ outcome: grant.credential ? 'provisioned' : 'started' });
    reply.log.info(
      {
        deviceId: grant.deviceId,
        tenant: grant.tenant,
        sessionId: grant.sessionId,
        provisioned: !!grant.credential,
      },
      'session started',
    );
    reply.header(
      'set-cookie',
      `${SESSION_COOKIE}=${grant.token}; Path=/device; HttpOnly; SameSite=Strict; Max-Age=${Math.max(1, Math.floor(opts.sessionTtlMs / 1000))}`,
    );
    return grant;
  };

  app.post(
    '/device/v1/sessions',
    { schema: { body: SessionBody, response: { 201: SessionCreated, ...refusals(400, 401, 409) } } },
    async (request, reply) => {
      const body = request.body;
      const grant = await start(
        {
          deviceId: body.deviceId as DeviceId,
          credential: body.credential,
          provisioningKey: body.provisioningKey,
          identity: body.identity,
        },
        reply,
      );
      return reply.status(201).send({
        token: grant.token,
        sessionId: grant.sessionId,
        deviceId: grant.deviceId,
        tenant: grant.tenant,
        expiresAt: grant.expiresAt.toISOString(),
        heartbeatMs: grant.heartbeatMs,
        connectPath: CONNECT_PATH,
        ...(grant.credential ? { credential: grant.credential } : {}),
      });
    },
  );

  app.get(
    '/devices/devicesopen',
    { schema: { querystring: SeedOpenQuery, response: { 200: SeedOpened, ...refusals(400, 401) } } },
    async (request, reply) => {
      const q = request.query;
      const identity: ReportedIdentity = definedOnly({
        serial: q['S[serial_no]'],
        hwSerial: q['S[serial_no_hw]'],
        mac: q.d_mac_id,
        localIp: q.d_local_ip,
        firmware: q.d_firmware,
        model: q.d_short_code,
      });
      const grant = await start(
        { deviceId: q['S[serial_no]'] as DeviceId, credential: q['S[S]'], identity },
        reply,
      );
      // The seed's answer, spelling included.
      return {
        status: 'succes',
        from: 'devices_opened',
        data: {
          result: 'done',
          S: grant.token,
          devices_id: grant.deviceId,
          is_login: true,
          devices_last_state: 'opened',
          session_id: grant.sessionId,
          expires_at: grant.expiresAt.toISOString(),
          heartbeat_ms: grant.heartbeatMs,
          connect_path: CONNECT_PATH,
        },
      };
    },
  );
};

function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export default sessionRoutes;
