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

/** A state change of a fresh command of one tracker, as the command service emits it. */
export function commandChange(
  over: Partial<CommandStateChange> & Pick<CommandStateChange, 'state'>,
): CommandStateChange {
  return {
    tenant: 'default' as TenantId,
    deviceId: '350612345678901' as CommandStateChange['deviceId'],
    commandId: `cmd-${crypto.randomUUID()}` as CommandStateChange['commandId'],
    at: Date.now(),
    name: 'codec12',
    command: 'getinfo',
    attempt: 1,
    metadata: {},
    ...over,
  };
}

/** Publishes a state change on COMMANDS under its own subject, as the command service does. */
export function publishChange(
  js: JetStreamClient,
  subjects: Subjects,
  change: CommandStateChange,
  msgID: string = crypto.randomUUID(),
) {
  return js.publish(
    subjects.cmd(change.tenant, change.deviceId, change.state),
    encodeBusMessage(PROTO.COMMAND, MSG_TYPE.COMMAND.STATE, change),
    { msgID },
  );
}

/**
 * Publishes a `completed` outcome of a fresh command of `tenant` and returns the event id its
 * webhooks carry.
 */
export async function publishCompleted(
  js: JetStreamClient,
  subjects: Subjects,
  tenant: string,
  metadata: Record<string, unknown> = {},
): Promise<string> {
  const change = commandChange({
    tenant: tenant as TenantId,
    state: 'completed',
    response: 'INI:ok',
    metadata,
  });
  await publishChange(js, subjects, change);
  return `${change.commandId}:completed`;
}
