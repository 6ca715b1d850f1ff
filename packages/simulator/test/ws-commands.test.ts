import type { CommandId, CommandRequestBody } from '@fleetwire/protocol';
import { describe, expect, it } from 'vitest';
import {
  type CommandChannel,
  type CommandOutcome,
  type GatewayActions,
  type GatewayParameters,
  handleCommand,
} from '../src/ws/commands.ts';

const PARAMETERS: GatewayParameters = {
  deviceId: 'gw-test-0001',
  serial: '251234000001',
  hwSerial: '724321000001',
  mac: '02:ab:cd:00:00:01',
  localIp: '10.7.0.2',
  firmware: 'fwgw-2.4.1',
  model: 'FW-GW1',
  epoch: 3,
};

/** Records what goes to the edge, in order: acks and results as they would be written. */
class FakeChannel implements CommandChannel {
  readonly sent: Array<{ kind: 'ack' | 'result'; commandId: string; outcome?: CommandOutcome }> = [];
  ack(commandId: CommandId): void {
    this.sent.push({ kind: 'ack', commandId });
  }
  result(commandId: CommandId, outcome: CommandOutcome): void {
    this.sent.push({ kind: 'result', commandId, outcome });
  }
}

/** Records what commands do to the gateway; `calls` interleaves with the channel through `order`. */
function fakeActions(order: string[] = []) {
  const state = {
    logs: [] as Array<{ level: string; message: string; fields?: Record<string, unknown> }>,
    items: [] as Array<Record<string, unknown>>,
    faults: false,
    reboots: 0,
    powerOffs: 0,
    uploads: 0,
    uploadFails: false,
  };
  const actions: GatewayActions = {
    parameters: () => PARAMETERS,
    log: (level, message, fields) => {
      state.logs.push({ level, message, ...(fields ? { fields } : {}) });
    },
    appendItems: async (items) => {
      state.items.push(items);
    },
    uploadLogs: async () => {
      state.uploads++;
      if (state.uploadFails) throw new Error('413 too_large: log over the limit');
      return 'log_123';
    },
    enableFaults: () => {
      state.faults = true;
    },
    reboot: () => {
      order.push('reboot');
      state.reboots++;
    },
    powerOff: () => {
      order.push('power-off');
      state.powerOffs++;
    },
  };
  return { actions, state };
}

const request = (name: string, args?: Record<string, unknown>, extra: Partial<CommandRequestBody> = {}) =>
  ({ commandId: `c-${name}` as CommandId, name, ...(args ? { args } : {}), ...extra }) as CommandRequestBody;

async function run(req: CommandRequestBody) {
  const order: string[] = [];
  const channel = new FakeChannel();
  const origAck = channel.ack.bind(channel);
  const origResult = channel.result.bind(channel);
  channel.ack = (id) => {
    order.push('ack');
    origAck(id);
  };
  channel.result = (id, outcome) => {
    order.push('result');
    origResult(id, outcome);
  };
  const { actions, state } = fakeActions(order);
  const outcome = await handleCommand(req, channel, actions);
  return { outcome, channel, state, order };
}

describe('gateway commands (the seed device command set)', () => {
  it('acks every command at once, then answers with a result for the same commandId', async () => {
    const { channel, order } = await run(request('get_d_parameters'));
    expect(order).toEqual(['ack', 'result']);
    expect(channel.sent.map((s) => s.commandId)).toEqual(['c-get_d_parameters', 'c-get_d_parameters']);
  });

  it('send_msg_log logs args.msg', async () => {
    const { outcome, state } = await run(request('send_msg_log', { msg: 'hello from the cloud' }));
    expect(outcome).toEqual({ ok: true, output: 'logged: hello from the cloud' });
    expect(state.logs).toEqual([
      { level: 'info', message: 'hello from the cloud', fields: { command: 'send_msg_log' } },
    ]);
  });

  it('reboot answers first and reboots after the result', async () => {
    const { outcome, order, state } = await run(request('reboot'));
    expect(outcome).toEqual({ ok: true, output: 'rebooting' });
    expect(order).toEqual(['ack', 'result', 'reboot']);
    expect(state.powerOffs).toBe(0);
  });

  it('Power_Off answers first and powers off after the result, without a reboot', async () => {
    const { outcome, order, state } = await run(request('Power_Off'));
    expect(outcome.ok).toBe(true);
    expect(order).toEqual(['ack', 'result', 'power-off']);
    expect(state.reboots).toBe(0);
  });

  it('get_d_parameters answers serial, ids, MAC and IP as JSON', async () => {
    const { outcome } = await run(request('get_d_parameters'));
    expect(outcome.ok).toBe(true);
    expect(JSON.parse(outcome.output!)).toEqual(PARAMETERS);
  });

  it.each(['changed_parameters', 'change_d_parameters'])('%s turns fault injection on', async (name) => {
    const { outcome, state } = await run(request(name));
    expect(outcome).toEqual({ ok: true, output: 'fault simulation on' });
    expect(state.faults).toBe(true);
  });

  it('get_d_items stores the payload', async () => {
    const { outcome, state } = await run(request('get_d_items', { items: [1, 2], note: 'audit' }));
    expect(outcome).toEqual({ ok: true, output: 'items stored' });
    expect(state.items).toEqual([{ items: [1, 2], note: 'audit' }]);
  });

  it('send_logs answers the logId of the upload, or a failed result when the upload fails', async () => {
    expect((await run(request('send_logs'))).outcome).toEqual({ ok: true, output: 'log_123' });
    const channel = new FakeChannel();
    const { actions, state } = fakeActions();
    state.uploadFails = true;
    const outcome = await handleCommand(request('send_logs'), channel, actions);
    expect(outcome).toEqual({ ok: false, error: '413 too_large: log over the limit' });
    expect(channel.sent.at(-1)).toMatchObject({ kind: 'result', outcome: { ok: false } });
  });

  it('an unknown command is logged as "Unhandled function" and fails', async () => {
    const { outcome, state, order } = await run(request('self_destruct'));
    expect(outcome).toEqual({ ok: false, error: 'Unhandled function: self_destruct' });
    expect(state.logs).toEqual([
      { level: 'warn', message: 'Unhandled function', fields: { command: 'self_destruct' } },
    ]);
    expect(order).toEqual(['ack', 'result']);
  });

  it('names that only exist on Object.prototype are unknown too', async () => {
    expect((await run(request('constructor'))).outcome.ok).toBe(false);
  });

  it('a command past its expiresAt fails without acting', async () => {
    const channel = new FakeChannel();
    const { actions, state } = fakeActions();
    const outcome = await handleCommand(
      request('reboot', undefined, { expiresAt: 1_000 }),
      channel,
      actions,
      2_000,
    );
    expect(outcome).toEqual({ ok: false, error: 'expired before it arrived' });
    expect(state.reboots).toBe(0);
  });
});
