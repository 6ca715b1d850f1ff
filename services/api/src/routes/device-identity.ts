import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { hashSecret, newSecret, SECRET_KIND } from '@fleetwire/runtime';
import { CLOSE_REASON, CloseOrderUnconfirmedError, type DeviceChannel } from '../adapters/device-channel.ts';
import { API_ERROR, ApiError, unknownDevice } from '../errors.ts';
import { errors, IdParams } from '../schemas/common.ts';
import { IssuedCredential } from '../schemas/devices.ts';
import { RevokedSessions } from '../schemas/identity.ts';

const tags = ['devices'];
const device = { idParam: 'deviceId' } as const;

export interface DeviceIdentityRoutesOptions {
  channel: DeviceChannel;
}

/** /v1/devices/:id/…: the credential and sessions of WebSocket devices. Trackers have neither (409). */
const deviceIdentity: FastifyPluginAsyncTypebox<DeviceIdentityRoutesOptions> = async (app, opts) => {
  const { devices, sessions } = app.stores;

  /** 404 for no such device, 409 for a tracker: the two reasons a WebSocket-only call is refused. */
  async function requireWsDevice(tenant: string, id: string): Promise<void> {
    const kind = await devices.kindOf(tenant, id);
    if (kind === undefined) throw unknownDevice(id);
    if (kind !== 'ws') {
      throw new ApiError(
        API_ERROR.CONFLICT,
        `device ${JSON.stringify(id)} is a ${kind}: only ws devices have one`,
      );
    }
  }

  app.post(
    '/:id/credential',
    {
      config: device,
      schema: {
        tags,
        description:
          'Issues a new credential (shown once); the old one stops working at once: sessions started with it are refused and the live connection is closed ("credential replaced").',
        params: IdParams,
        response: { 200: IssuedCredential, ...errors(404, 409) },
      },
    },
    async (request) => {
      const { tenant } = request.principal;
      const { id } = request.params;
      const credential = newSecret(SECRET_KIND.DEVICE_CREDENTIAL);
      const issuedAt = await devices.replaceCredential(tenant, id, hashSecret(credential));
      if (issuedAt === undefined) {
        await requireWsDevice(tenant, id);
        throw unknownDevice(id); // deleted between the two statements
      }
      // Sessions started with the old credential are refused at connect; drop the live one too.
      await opts.channel
        .closeConnection(tenant, id, CLOSE_REASON.CREDENTIAL_REPLACED)
        .catch((err: unknown) => {
          request.log.warn(
            { err },
            'credential replaced; the order to close the live connection was not confirmed',
          );
        });
      request.log.info({ issuedAt }, 'device credential issued');
      return { credential, issuedAt };
    },
  );

  app.post(
    '/:id/sessions/revoke',
    {
      config: device,
      schema: {
        tags,
        description:
          'Revokes the device\'s live sessions and tells the edge holding its connection to close it ("session revoked").',
        params: IdParams,
        response: { 200: RevokedSessions, ...errors(404, 409, 503) },
      },
    },
    async (request) => {
      const { tenant } = request.principal;
      const { id } = request.params;
      await requireWsDevice(tenant, id);
      // Revoked first: the device's reconnect with the same token is then refused.
      const revoked = await sessions.revokeLive(tenant, id);
      await opts.channel.closeConnection(tenant, id).catch((err: unknown) => {
        if (!(err instanceof CloseOrderUnconfirmedError)) throw err;
        request.log.warn({ err, revoked }, 'sessions revoked, close order unconfirmed');
        throw new ApiError(
          API_ERROR.BUS_UNAVAILABLE,
          'sessions revoked, but the order to close the connection could not be confirmed: retry',
        );
      });
      request.log.info({ revoked }, 'device sessions revoked');
      return { revoked };
    },
  );
};

export default deviceIdentity;
