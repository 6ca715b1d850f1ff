import crypto from 'node:crypto';
import {
  type CommandStateChange,
  encodeBusMessage,
  MSG_TYPE,
  PROTO,
  type Subjects,
  type TenantId,
} from '@fleetwire/protocol';
import type { JetStreamClient } from '@nats-io/jetstream';

/**
 * Publishes a `completed` outcome of a fresh command of `tenant` on COMMANDS, as the command service
 * does, and returns the event id its webhooks carry.
 */
export async function publishCompleted(
  js: JetStreamClient,
  subjects: Subjects,
  tenant: string,
  metadata: Record<string, unknown> = {},
): Promise<string> {
  const change: CommandStateChange = {
    tenant: tenant as TenantId,
    deviceId: '350612345678901' as CommandStateChange['deviceId'],
    commandId: `cmd-${crypto.randomUUID()}` as CommandStateChange['commandId'],
    at: Date.now(),
    name: 'codec12',
    command: 'getinfo',
    attempt: 1,
    state: 'completed',
    response: 'INI:ok',
    metadata,
  };
  await js.publish(
    subjects.cmd(change.tenant, change.deviceId, 'completed'),
    encodeBusMessage(PROTO.COMMAND, MSG_TYPE.COMMAND.STATE, change),
    { msgID: crypto.randomUUID() },
  );
  return `${change.commandId}:completed`;
}
