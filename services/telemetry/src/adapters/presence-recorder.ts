import { decodeBusMessage, PresenceEvent } from '@fleetwire/protocol';
import type { BatchOutcome, Sql } from '@fleetwire/runtime';
import type { JsMsg } from '@nats-io/jetstream';

/**
 * Keeps `device_presence` in step with the edges' presence events. Ordering comes from the epoch, not
 * from arrival: an event only applies when its epoch is newer, or when it is the offline of the
 * current connection. So a late offline from an old connection never marks a reconnected device
 * offline, whichever order the events arrive in.
 */
export function presenceBatchHandler(sql: Sql) {
  return async (batch: JsMsg[]): Promise<BatchOutcome> => {
    const poison: Array<{ msg: JsMsg; reason: string }> = [];
    for (const msg of batch) {
      let event: PresenceEvent;
      try {
        event = decodeBusMessage(msg.data, PresenceEvent).payload;
      } catch (err) {
        poison.push({ msg, reason: `undecodable presence event: ${(err as Error).message}` });
        continue;
      }
      await sql`
        insert into device_presence as p (tenant_id, device_id, state, epoch, edge_id, transport, changed_at, reason)
        select ${event.tenant}, ${event.deviceId}, ${event.state}, ${event.epoch}, ${event.edgeId}, ${event.transport},
               ${new Date(event.at)}, ${event.reason ?? null}
        from devices d where d.tenant_id = ${event.tenant} and d.id = ${event.deviceId}
        on conflict (tenant_id, device_id) do update set
          state = excluded.state, epoch = excluded.epoch, edge_id = excluded.edge_id, transport = excluded.transport,
          changed_at = excluded.changed_at, reason = excluded.reason
        where excluded.epoch > p.epoch or (excluded.epoch = p.epoch and excluded.state = 'offline')`;
    }
    return { poison };
  };
}
