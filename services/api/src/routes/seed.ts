import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { CommandLedger, CreateCommandInput } from '@fleetwire/ledger';
import { COMMAND_STATE, parseDeviceId, parseTenantId } from '@fleetwire/protocol';
import Type from 'typebox';
import type { StatsStore } from '../adapters/stats-store.ts';
import { API_ERROR, ApiError, unknownDevice } from '../errors.ts';
import { CommandStateSchema, SeedCommandBody } from '../schemas/commands.ts';
import { errors, JsonObject, Token } from '../schemas/common.ts';
import type { Device } from '../schemas/devices.ts';
import { LatestState } from '../schemas/devices.ts';

const tags = ['seed'];

const SeedDevice = Type.Object({
  imei: Type.String(),
  connected: Type.Boolean(),
  state: Type.Enum({ ONLINE: 'online', OFFLINE: 'offline', UNKNOWN: 'unknown' }),
  kind: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  since: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  remoteAddress: Type.Union([Type.String(), Type.Null()]),
  edgeId: Type.Union([Type.String(), Type.Null()]),
});

const SeedDeviceDetail = Type.Object({
  ...SeedDevice.properties,
  tags: Type.Array(Type.String()),
  metadata: JsonObject,
  latestState: Type.Union([LatestState, Type.Null()]),
});

function seedDevice(d: Device) {
  return {
    imei: d.id,
    connected: d.online,
    state: d.presence?.state ?? ('unknown' as const),
    kind: d.kind,
    name: d.name,
    since: d.presence?.since ?? null,
    remoteAddress: d.presence?.remoteAddress ?? null,
    edgeId: d.presence?.edgeId ?? null,
  };
}

/** The command names a WebSocket device understands: `reboot`, `send_msg_log`, `Power_Off`, … */
const WS_COMMAND_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

type SeedCommand = Pick<CreateCommandInput, 'name' | 'args'>;

/**
 * A tracker gets the text as a Codec 12 command; a WebSocket device gets it as the command's name
 * (the seed's devices were sent `reboot`, `send_msg_log`, …, not free text).
 */
function seedCommandFor(kind: string | undefined, command: string): SeedCommand {
  if (kind !== 'ws') return { name: 'codec12', args: { text: command } };
  if (!WS_COMMAND_NAME.test(command)) {
    throw new ApiError(
      API_ERROR.VALIDATION,
      'body.command must be a command name (1-64 of A-Z a-z 0-9 _ . -) for a WebSocket device',
      { field: 'body.command' },
    );
  }
  return { name: command, args: {} };
}

export interface SeedRoutesOptions {
  ledger: CommandLedger;
  stats: StatsStore;
  startedAt: number;
}

/**
 * The seed gateway's API under /api/v1, paths and bodies unchanged, answered from the registry,
 * presence and the command ledger. The seed listed only connected IMEIs; this lists every
 * registered device with its connection state (`connected`).
 */
const seed: FastifyPluginAsyncTypebox<SeedRoutesOptions> = async (app, opts) => {
  const { devices, telemetry } = app.stores;

  app.get(
    '/devices',
    {
      schema: {
        tags,
        response: {
          200: Type.Object({
            success: Type.Boolean(),
            count: Type.Integer(),
            devices: Type.Array(SeedDevice),
          }),
          ...errors(),
        },
      },
    },
    async (request) => {
      const all: ReturnType<typeof seedDevice>[] = [];
      let afterId: string | undefined;
      for (;;) {
        const batch = await devices.list(request.principal.tenant, { afterId, limit: 1000 });
        all.push(...batch.slice(0, 1000).map(seedDevice));
        if (batch.length <= 1000) break;
        afterId = batch[999]!.id;
      }
      return { success: true, count: all.length, devices: all };
    },
  );

  app.get(
    '/devices/:imei',
    {
      schema: {
        tags,
        params: Type.Object({ imei: Token('device IMEI') }),
        response: { 200: Type.Object({ success: Type.Boolean(), device: SeedDeviceDetail }), ...errors(404) },
      },
    },
    async (request) => {
      const d = await devices.get(request.principal.tenant, request.params.imei);
      if (!d) throw unknownDevice(request.params.imei);
      return {
        success: true,
        device: { ...seedDevice(d), tags: d.tags, metadata: d.metadata, latestState: d.latestState },
      };
    },
  );

  app.get(
    '/stats',
    {
      schema: {
        tags,
        response: {
          200: Type.Object({
            success: Type.Boolean(),
            connections: Type.Object({ online: Type.Integer(), registered: Type.Integer() }),
            commands: Type.Record(Type.String(), Type.Integer(), {
              description: 'count by state, and total',
            }),
            telemetry: Type.Object({
              recordsToday: Type.Integer({ description: 'device time on this UTC day' }),
            }),
            uptimeSeconds: Type.Integer(),
          }),
          ...errors(),
        },
      },
    },
    async (request) => {
      const { tenant } = request.principal;
      const [connections, byState, recordsToday] = await Promise.all([
        opts.stats.devices(tenant),
        opts.stats.commandsByState(tenant),
        telemetry.countToday(tenant),
      ]);
      const commands: Record<string, number> = { total: 0 };
      for (const state of Object.values(COMMAND_STATE)) {
        commands[state] = byState[state] ?? 0;
        commands.total! += commands[state];
      }
      return {
        success: true,
        connections,
        commands,
        telemetry: { recordsToday },
        uptimeSeconds: Math.floor((Date.now() - opts.startedAt) / 1000),
      };
    },
  );

  app.post(
    '/command',
    {
      schema: {
        tags,
        description:
          'Queues a Codec 12 command for a tracker (name codec12, args.text = command), or the command of that name for a WebSocket device; older open commands with the same text are superseded.',
        body: SeedCommandBody,
        response: {
          200: Type.Object({
            success: Type.Boolean(),
            message: Type.String(),
            commandId: Type.String(),
            imei: Type.String(),
            command: Type.String(),
            state: CommandStateSchema,
            metadata: JsonObject,
          }),
          ...errors(400, 404),
        },
      },
    },
    async (request) => {
      const { imei, command, metadata } = request.body;
      const kind = await devices.kindOf(request.principal.tenant, imei);
      const { command: queued } = await opts.ledger.create({
        tenant: parseTenantId(request.principal.tenant),
        deviceId: parseDeviceId(imei),
        ...seedCommandFor(kind, command),
        command,
        metadata: metadata ?? {},
        supersede: true,
      });
      request.log.info({ commandId: queued.id }, 'command queued (seed API)');
      return {
        success: true,
        message: 'Command sent',
        commandId: queued.id,
        imei,
        command,
        state: queued.state,
        metadata: queued.metadata,
      };
    },
  );
};

export default seed;
