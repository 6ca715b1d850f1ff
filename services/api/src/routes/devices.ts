import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { DeviceLogStore } from '@fleetwire/device-logs';
import { hashSecret, newSecret, SECRET_KIND } from '@fleetwire/runtime';
import Type from 'typebox';
import { CLOSE_REASON, type DeviceChannel } from '../adapters/device-channel.ts';
import { API_ERROR, ApiError, unknownDevice } from '../errors.ts';
import { decodeCursor, pageSize, toPage } from '../paging.ts';
import { errors, IdParams, page } from '../schemas/common.ts';
import {
  CreateDeviceBody,
  CreatedDevice,
  Device,
  DeviceDetail,
  DeviceStateAnswer,
  ListDevicesQuery,
  PatchDeviceBody,
  TelemetryQuery,
  TelemetryRow,
} from '../schemas/devices.ts';

const tags = ['devices'];
const device = { idParam: 'deviceId' } as const;

function timeOf(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new ApiError(API_ERROR.VALIDATION, `${field} is not a time`, { field });
  return ms;
}

export interface DeviceRoutesOptions {
  maxPageSize: number;
  /** A deleted device's uploaded logs go with it, bytes included. */
  deviceLogs: DeviceLogStore;
  /** A deleted device's live connection is closed ("device deprovisioned"). */
  channel: DeviceChannel;
}

/** /v1/devices: the registry, with presence, latest state and stored telemetry. */
const devices: FastifyPluginAsyncTypebox<DeviceRoutesOptions> = async (app, opts) => {
  const { devices: store, telemetry } = app.stores;

  app.post(
    '',
    {
      schema: {
        tags,
        description: 'A WebSocket device (kind ws) gets its credential in the answer, shown this once.',
        body: CreateDeviceBody,
        response: { 201: CreatedDevice, ...errors(400, 409) },
      },
    },
    async (request, reply) => {
      const credential = request.body.kind === 'ws' ? newSecret(SECRET_KIND.DEVICE_CREDENTIAL) : undefined;
      const created = await store.create(
        request.principal.tenant,
        request.body,
        credential === undefined ? undefined : hashSecret(credential),
      );
      if (!created) {
        throw new ApiError(API_ERROR.CONFLICT, `device ${JSON.stringify(request.body.id)} already exists`, {
          field: 'body.id',
        });
      }
      request.log.info({ deviceId: created.id, kind: created.kind }, 'device registered');
      return reply.status(201).send(credential === undefined ? created : { ...created, credential });
    },
  );

  app.get(
    '',
    { schema: { tags, querystring: ListDevicesQuery, response: { 200: page(Device), ...errors(400) } } },
    async (request) => {
      const q = request.query;
      const size = pageSize(q.limit, opts.maxPageSize);
      const [afterId] = decodeCursor(q.cursor, ['string']) as [string?];
      const rows = await store.list(request.principal.tenant, {
        kind: q.kind,
        tag: q.tag,
        state: q.state,
        idPrefix: q.q,
        afterId,
        limit: size,
      });
      return toPage(
        rows,
        size,
        (d) => d,
        (d) => [d.id],
      );
    },
  );

  app.get(
    '/:id',
    { config: device, schema: { tags, params: IdParams, response: { 200: DeviceDetail, ...errors(404) } } },
    async (request) => {
      const found = await store.get(request.principal.tenant, request.params.id);
      if (!found) throw unknownDevice(request.params.id);
      return found;
    },
  );

  app.patch(
    '/:id',
    {
      config: device,
      schema: {
        tags,
        params: IdParams,
        body: PatchDeviceBody,
        response: { 200: DeviceDetail, ...errors(400, 404) },
      },
    },
    async (request) => {
      const { tenant } = request.principal;
      if (!(await store.update(tenant, request.params.id, request.body)))
        throw unknownDevice(request.params.id);
      request.log.info({ fields: Object.keys(request.body) }, 'device updated');
      return (await store.get(tenant, request.params.id))!;
    },
  );

  app.delete(
    '/:id',
    { config: device, schema: { tags, params: IdParams, response: { 204: Type.Null(), ...errors(404) } } },
    async (request, reply) => {
      const { tenant } = request.principal;
      const { id } = request.params;
      if (!(await store.exists(tenant, id))) throw unknownDevice(id);
      // Rows cascade with the device, but the bytes are in the object store: remove them first.
      const logs = await opts.deviceLogs.deleteAllOf(tenant, id);
      if (!(await store.delete(tenant, id))) throw unknownDevice(id);
      await opts.channel.closeConnection(tenant, id, CLOSE_REASON.DEPROVISIONED).catch((err: unknown) => {
        request.log.warn({ err }, 'device deleted; the order to close its connection was not confirmed');
      });
      request.log.info({ logs }, 'device deleted');
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/:id/state',
    {
      config: device,
      schema: {
        tags,
        description: 'The latest state (position, merged attributes) the telemetry service recorded.',
        params: IdParams,
        response: { 200: DeviceStateAnswer, ...errors(404) },
      },
    },
    async (request) => {
      const { tenant } = request.principal;
      const { id } = request.params;
      const state = await store.latestState(tenant, id);
      if (state) return { deviceId: id, ...state };
      if (!(await store.exists(tenant, id))) throw unknownDevice(id);
      throw new ApiError(API_ERROR.NOT_FOUND, `device ${JSON.stringify(id)} has reported no state yet`);
    },
  );

  app.get(
    '/:id/telemetry',
    {
      config: device,
      schema: {
        tags,
        description: 'Stored records in [from, to) by device time, oldest first.',
        params: IdParams,
        querystring: TelemetryQuery,
        response: { 200: page(TelemetryRow), ...errors(400, 404) },
      },
    },
    async (request) => {
      const { tenant } = request.principal;
      const { id } = request.params;
      const q = request.query;
      const size = pageSize(q.limit, opts.maxPageSize, 100);
      const after = decodeCursor(q.cursor, ['number', 'number']) as [number?, number?];
      if (!(await store.exists(tenant, id))) throw unknownDevice(id);
      const rows = await telemetry.range(tenant, id, {
        fromMs: timeOf(q.from, 'querystring.from'),
        toMs: timeOf(q.to, 'querystring.to'),
        after: after[0] === undefined ? undefined : { deviceTimeMs: after[0], eventIo: after[1]! },
        limit: size,
      });
      return toPage(
        rows,
        size,
        (r) => r.row,
        (r) => r.key,
      );
    },
  );
};

export default devices;
