import type { Readable } from 'node:stream';
import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { DeviceId, TenantId } from '@fleetwire/protocol';
import type { FastifyRequest } from 'fastify';
import { DEVICE_ERROR, DeviceError } from '../domain/errors.ts';
import type { DeviceSession } from '../domain/sessions.ts';
import type { EdgeWsMetrics } from '../metrics.ts';
import { LogStored, refusals } from './schemas.ts';

/** Where uploads go (DeviceLogStore of @fleetwire/device-logs): streamed, bounded, all or nothing. */
export interface LogSink {
  store(input: {
    tenant: TenantId;
    deviceId: DeviceId;
    fileName: string;
    contentType: string;
    stream: Readable;
    maxBytes: number;
  }): Promise<{ logId: string; sizeBytes: number; sha256: string }>;
}

export interface LogRoutesOptions {
  logs: LogSink;
  /** Thrown by the sink past maxBytes (nothing stored). */
  isTooLarge(err: unknown): boolean;
  authenticate(request: FastifyRequest): Promise<DeviceSession>;
  maxBytes: number;
  metrics: EdgeWsMetrics;
}

/** The seed's multipart field name. */
const FILE_FIELD = 'file';

/**
 * Log bundles uploaded by devices, streamed from the multipart body into the log store (never held
 * whole in memory); `POST /deviceslog/devlogup` is the seed device's path for the same thing.
 */
const logRoutes: FastifyPluginAsyncTypebox<LogRoutesOptions> = async (app, opts) => {
  await app.register(multipart, { limits: { files: 1, fields: 20, fileSize: opts.maxBytes + 1 } });

  const upload = async (request: FastifyRequest) => {
    const session = await opts.authenticate(request);
    const { tenant, deviceId } = session;
    const file = request.isMultipart() ? await request.file() : undefined;
    if (!file || file.fieldname !== FILE_FIELD) {
      throw new DeviceError(DEVICE_ERROR.INVALID_REQUEST, 'a multipart file field "file" is required', {
        field: FILE_FIELD,
      });
    }
    try {
      const stored = await opts.logs.store({
        tenant,
        deviceId,
        fileName: file.filename || 'device.log',
        contentType: file.mimetype || 'application/octet-stream',
        stream: file.file,
        maxBytes: opts.maxBytes,
      });
      opts.metrics.logUploads.inc({ outcome: 'stored' });
      request.log.info({ deviceId, logId: stored.logId, sizeBytes: stored.sizeBytes }, 'log uploaded');
      return { logId: stored.logId, sizeBytes: stored.sizeBytes, sha256: stored.sha256 };
    } catch (err) {
      if (opts.isTooLarge(err) || file.file.truncated) {
        opts.metrics.logUploads.inc({ outcome: 'too_large' });
        throw new DeviceError(DEVICE_ERROR.LOG_TOO_LARGE, `the log exceeds ${opts.maxBytes} bytes`);
      }
      opts.metrics.logUploads.inc({ outcome: 'failed' });
      throw err;
    }
  };

  const schema = { response: { 201: LogStored, ...refusals(400, 401, 403, 413) } };
  for (const path of ['/device/v1/logs', '/deviceslog/devlogup']) {
    app.post(path, { schema }, async (request, reply) => {
      const stored = await upload(request);
      return reply.status(201).send(stored);
    });
  }
};

export default logRoutes;
