import type { CommandView } from '@fleetwire/ledger';
import { type CommandReply, type DeviceId, MSG_TYPE, type TenantId } from '@fleetwire/protocol';
import { describe, expect, it } from 'vitest';
import { DeviceCandidates, decideReply, type PendingReply, planRound } from '../src/reply-plan.ts';

const TENANT = 'default' as TenantId;
const DEVICE = '356307042446001' as DeviceId;

function command(id: string, text: string | null, state: CommandView['state'] = 'sent'): CommandView {
  return {
    id: id as CommandView['id'],
    tenant: TENANT,
    deviceId: DEVICE,
    name: 'codec12',
    args: {},
    command: text,
    metadata: {},
    state,
    attempts: state === 'queued' ? 0 : 1,
    maxAttempts: 3,
    attemptTimeoutMs: 30_000,
    expiresAt: '2030-01-01T00:00:00.000Z',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    sentAt: null,
    finishedAt: null,
    response: null,
    error: null,
    idempotencyKey: null,
  };
}

function reply(typ: string, patch: Partial<CommandReply> = {}, deviceId = DEVICE): PendingReply {
  return { typ, reply: { tenant: TENANT, deviceId, receivedAt: 0, ...patch } as CommandReply, lost: 0 };
}

const text = (t: string, commandId?: string) =>
  reply(MSG_TYPE.COMMAND.REPLY, { text: t, ...(commandId ? { commandId: commandId as never } : {}) });

describe('deciding one device answer', () => {
  const candidates = () =>
    new DeviceCandidates([
      command('c1', 'custom one'),
      command('g', 'getver'),
      command('q', 'getinfo', 'queued'),
    ]);

  it('maps ack, result and refusals to transitions of the named command', () => {
    const c = candidates();
    expect(decideReply(reply(MSG_TYPE.COMMAND.ACK, { commandId: 'x' as never }), c, true)).toMatchObject({
      kind: 'transition',
      request: { commandId: 'x', change: { to: 'delivered' } },
      rematch: false,
    });
    expect(decideReply(reply(MSG_TYPE.COMMAND.ACK), c, true)).toEqual({ kind: 'ignore' });
    expect(
      decideReply(reply(MSG_TYPE.COMMAND.RESULT, { commandId: 'x' as never, ok: false }), c, true),
    ).toMatchObject({ request: { change: { to: 'failed', error: 'the device reported a failure' } } });
    expect(
      decideReply(reply(MSG_TYPE.COMMAND.RESULT, { commandId: 'x' as never, output: 'done' }), c, true),
    ).toMatchObject({ request: { change: { to: 'completed', response: 'done' } } });
    expect(decideReply(reply(MSG_TYPE.COMMAND.RESULT), c, true)).toEqual({
      kind: 'unmatched',
      why: 'result without a command id',
    });
    expect(decideReply(reply('weird'), c, true)).toMatchObject({ kind: 'unmatched' });
  });

  it('matches tracker text by the seed rules, and takes a named command that is still queued first', () => {
    expect(decideReply(text('Ver:1.2'), candidates(), true)).toMatchObject({
      request: { commandId: 'g', change: { to: 'completed', response: 'Ver:1.2' } },
      rematch: true,
    });
    expect(decideReply(text('INI:2026', 'q'), candidates(), true)).toMatchObject({
      request: { commandId: 'q' },
    });
    // Without the name, a queued command takes nothing: the custom command gets the text.
    expect(decideReply(text('INI:2026'), candidates(), true)).toMatchObject({ request: { commandId: 'c1' } });
    expect(decideReply(text('anything'), new DeviceCandidates([command('g', 'getver')]), true)).toEqual({
      kind: 'unmatched',
      why: 'no waiting command takes this answer',
    });
  });
});

describe('planning a round of answers', () => {
  it('matches a device’s answers in arrival order, each taking the command it matched out of the running', () => {
    const queues = new Map([[`${TENANT}/${DEVICE}`, [text('OK 1'), text('OK 2'), text('OK 3')]]]);
    const round = planRound(
      queues,
      () => new DeviceCandidates([command('a', 'custom a'), command('b', 'custom b')]),
      true,
    );
    expect(round.planned.map((p) => [p.request.commandId, p.request.change.response])).toEqual([
      ['a', 'OK 1'],
      ['b', 'OK 2'],
    ]);
    expect(round.unmatched.map((u) => u.reply.reply.text)).toEqual(['OK 3']);
    expect(queues.get(`${TENANT}/${DEVICE}`)).toEqual([]);
  });

  it('leaves a second change of the same command, and what follows it, to the next round', () => {
    const ack = reply(MSG_TYPE.COMMAND.ACK, { commandId: 'w' as never });
    const result = reply(MSG_TYPE.COMMAND.RESULT, { commandId: 'w' as never, output: 'ok' });
    const later = reply(MSG_TYPE.COMMAND.RESULT, { commandId: 'v' as never, output: 'ok' });
    const other = reply(MSG_TYPE.COMMAND.RESULT, { commandId: 'z' as never }, 'other' as DeviceId);
    const queues = new Map([
      [`${TENANT}/${DEVICE}`, [ack, result, later]],
      [`${TENANT}/other`, [other]],
    ]);
    const round = planRound(queues, () => new DeviceCandidates([command('w', null)]), true);
    expect(round.planned.map((p) => p.request.commandId)).toEqual(['w', 'z']);
    expect(queues.get(`${TENANT}/${DEVICE}`)).toEqual([result, later]);
    expect(queues.get(`${TENANT}/other`)).toEqual([]);
  });
});
