import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type DeviceLogStore, InvalidCursorError } from '@fleetwire/device-logs';
import Type from 'typebox';
import { API_ERROR, ApiError, notFound, unknownDevice } from '../errors.ts';
import { pageSize } from '../paging.ts';
import { errors, IdParams, page } from '../schemas/common.ts';
import { DeviceLog, DeviceLogParams, ListLogsQuery } from '../schemas/logs.ts';

const tags = ['devices'];
const device = { idParam: 'deviceId' } as const;

export interface DeviceLogRoutesOptions {
  maxPageSize: number;
  deviceLogs: DeviceLogStore;
}

/** `attachment` with an ASCII fallback name and the exact name (RFC 6266 / 5987). */
export function contentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}

/** /v1/devices/:id/logs: the log bundles a device uploaded through edge-ws (POST /device/v1/logs). */
const deviceLogs: FastifyPluginAsyncTypebox<DeviceLogRoutesOptions> = async (app, opts) => {
  const { devices } = app.stores;

  app.get(
    '/:id/logs',
    {
      config: device,
      schema: {
        tags,
        description: 'Uploaded logs, newest first.',
        params: IdParams,
        querystring: ListLogsQuery,
        response: { 200: page(DeviceLog), ...errors(400, 404) },
      },
    },
    async (request) => {
      const { tenant } = request.principal;
      const { id } = request.params;
      if (!(await devices.exists(tenant, id))) throw unknownDevice(id);
      const { limit, cursor } = request.query;
      try {
        return await opts.deviceLogs.list(tenant, id, {
          limit: pageSize(limit, opts.maxPageSize),
          ...(cursor === undefined ? {} : { cursor }),
        });
      } catch (err) {
        if (err instanceof InvalidCursorError) {
          throw new ApiError(API_ERROR.VALIDATION, 'cursor is not valid', { field: 'querystring.cursor' });
        }
        throw err;
      }
    },
  );

  app.get(
    '/:id/logs/:logId',
    {
      config: device,
      schema: {
        tags,
        description: 'The uploaded bytes, streamed, with the content type the device gave.',
        params: DeviceLogParams,
        response: {
          200: {
            description: 'the log file',
            // Typed as what the handler sends (a stream); documented as binary.
            content: {
              'application/octet-stream': {
                schema: Type.Unsafe<Readable>({ type: 'string', format: 'binary' }),
              },
            },
          },
          ...errors(404),
        },
      },
    },
    async (request, reply) => {
      const { tenant } = request.principal;
      const { id, logId } = request.params;
      const opened = await opts.deviceLogs.open(tenant, id, logId);
      if (!opened) {
        if (!(await devices.exists(tenant, id))) throw unknownDevice(id);
        throw notFound('log', logId);
      }
      const { meta, stream } = opened;
      stream.on('error', (err) => request.log.error({ err, logId }, 'device log download failed'));
      request.log.info({ logId, sizeBytes: meta.sizeBytes }, 'device log download');
      return reply
        .header('content-type', meta.contentType)
        .header('content-length', String(meta.sizeBytes))
        .header('content-disposition', contentDisposition(meta.fileName))
        .header('x-content-type-options', 'nosniff')
        .header('x-fleetwire-sha256', meta.sha256)
        .send(stream);
    },
  );
};

export default deviceLogs;
