import Type, { type Static } from 'typebox';
import { IsoTime } from './common.ts';

const HeartbeatMs = Type.Union([Type.Integer({ minimum: 1000, maximum: 600_000 }), Type.Null()], {
  description:
    'how often WebSocket devices ping (ms, 1000-600000); null = the edge default (FW_WS_HEARTBEAT)',
});

export const Fleet = Type.Object({
  id: Type.String({ description: 'the tenant' }),
  name: Type.String(),
  wsHeartbeatMs: HeartbeatMs,
  createdAt: IsoTime,
});
export type Fleet = Static<typeof Fleet>;

export const PatchFleetBody = Type.Object({ wsHeartbeatMs: HeartbeatMs }, { additionalProperties: false });
export type PatchFleetBody = Static<typeof PatchFleetBody>;
