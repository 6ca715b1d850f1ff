/**
 * The seed device's command set, as a gateway answers `command/request {commandId, name, args}`:
 * `command/ack` at once, then the action, then `command/result {ok, output | error}`. Pure apart
 * from the injected channel and actions, so every command is testable without a socket.
 */
import type { CommandId, CommandRequestBody } from '@fleetwire/protocol';

export const WS_COMMAND = {
  SEND_MSG_LOG: 'send_msg_log',
  REBOOT: 'reboot',
  POWER_OFF: 'Power_Off',
  GET_D_PARAMETERS: 'get_d_parameters',
  CHANGED_PARAMETERS: 'changed_parameters',
  CHANGE_D_PARAMETERS: 'change_d_parameters',
  GET_D_ITEMS: 'get_d_items',
  SEND_LOGS: 'send_logs',
} as const;

export interface CommandOutcome {
  ok: boolean;
  output?: string;
  error?: string;
}

/** Where the answers go (the WebSocket in the device, a recorder in tests). */
export interface CommandChannel {
  ack(commandId: CommandId): void;
  result(commandId: CommandId, outcome: CommandOutcome): void;
}

/** What `get_d_parameters` reports: the seed logs serial, ids, MAC and IP. */
export interface GatewayParameters {
  deviceId: string;
  serial: string;
  hwSerial: string;
  mac: string;
  localIp: string;
  firmware: string;
  model: string;
  /** The epoch of the current connection. */
  epoch: number;
}

/** What commands do to the gateway. */
export interface GatewayActions {
  parameters(): GatewayParameters;
  log(level: 'info' | 'warn', message: string, fields?: Record<string, unknown>): void;
  /** Appends the command's payload and the gateway's identity to its persistent JSON log. */
  appendItems(items: Record<string, unknown>): Promise<void>;
  /** Uploads a snapshot of the JSON log; resolves with the edge's logId. */
  uploadLogs(): Promise<string>;
  enableFaults(): void;
  /** Called after the result went out: close, then come back with a new session. */
  reboot(): void;
  /** Called after the result went out: close and stay off. */
  powerOff(): void;
}

type Runner = (request: CommandRequestBody, actions: GatewayActions) => Promise<CommandOutcome>;

const ok = (output: string): CommandOutcome => ({ ok: true, output });

const enableFaults: Runner = async (_, actions) => {
  actions.enableFaults();
  actions.log('info', 'fault simulation on: the system may fail at every heartbeat');
  return ok('fault simulation on');
};

const RUNNERS: Readonly<Record<string, Runner>> = {
  [WS_COMMAND.SEND_MSG_LOG]: async ({ args }, actions) => {
    const msg = typeof args?.msg === 'string' ? args.msg : JSON.stringify(args?.msg ?? '');
    actions.log('info', msg, { command: WS_COMMAND.SEND_MSG_LOG });
    return ok(`logged: ${msg}`);
  },
  [WS_COMMAND.REBOOT]: async (_, actions) => {
    actions.log('info', 'rebooting');
    return ok('rebooting');
  },
  [WS_COMMAND.POWER_OFF]: async (_, actions) => {
    actions.log('info', 'powering off');
    return ok('powering off');
  },
  [WS_COMMAND.GET_D_PARAMETERS]: async (_, actions) => ok(JSON.stringify(actions.parameters())),
  [WS_COMMAND.CHANGED_PARAMETERS]: enableFaults,
  [WS_COMMAND.CHANGE_D_PARAMETERS]: enableFaults,
  [WS_COMMAND.GET_D_ITEMS]: async ({ args }, actions) => {
    await actions.appendItems(args ?? {});
    return ok('items stored');
  },
  [WS_COMMAND.SEND_LOGS]: async (_, actions) => ok(await actions.uploadLogs()),
};

/** After the result: what the command does to the connection. */
const AFTERWARDS: Readonly<Record<string, (actions: GatewayActions) => void>> = {
  [WS_COMMAND.REBOOT]: (actions) => actions.reboot(),
  [WS_COMMAND.POWER_OFF]: (actions) => actions.powerOff(),
};

/** Acks, runs and answers one command; resolves with the outcome sent. Never rejects. */
export async function handleCommand(
  request: CommandRequestBody,
  channel: CommandChannel,
  actions: GatewayActions,
  now = Date.now(),
): Promise<CommandOutcome> {
  channel.ack(request.commandId);
  const outcome = await run(request, actions, now);
  channel.result(request.commandId, outcome);
  if (outcome.ok) AFTERWARDS[request.name]?.(actions);
  return outcome;
}

async function run(
  request: CommandRequestBody,
  actions: GatewayActions,
  now: number,
): Promise<CommandOutcome> {
  if (request.expiresAt !== undefined && request.expiresAt < now) {
    return { ok: false, error: 'expired before it arrived' };
  }
  const runner = Object.hasOwn(RUNNERS, request.name) ? RUNNERS[request.name] : undefined;
  if (!runner) {
    actions.log('warn', 'Unhandled function', { command: request.name });
    return { ok: false, error: `Unhandled function: ${request.name}` };
  }
  try {
    return await runner(request, actions);
  } catch (err) {
    const error = (err as Error).message || String(err);
    actions.log('warn', `${request.name} failed: ${error}`);
    return { ok: false, error };
  }
}
