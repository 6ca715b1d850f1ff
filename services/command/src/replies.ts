import type { CommandLedger, CommandView, DeviceRef } from '@fleetwire/ledger';
import { CommandReply, decodeBusMessage } from '@fleetwire/protocol';
import type { Logger } from '@fleetwire/runtime';
import type { JsMsg } from '@nats-io/jetstream';
import type { CommandMetrics } from './metrics.ts';
import { DeviceCandidates, type PendingReply, type PlannedReply, planRound } from './reply-plan.ts';

export interface ReplyHandlerDeps {
  ledger: Pick<CommandLedger, 'awaitingAnswers' | 'transitionMany'>;
  metrics: CommandMetrics;
  log: Logger;
  /** VALIDATE_COMMAND_RESPONSE. */
  validate: boolean;
  terminate(msg: JsMsg, reason: string): void;
}

/** Another instance may finish the matched command first; then the answer is matched again. */
const MAX_MATCH_ROUNDS = 3;

const deviceKey = (d: { tenant: string; deviceId: string }) => `${d.tenant}/${d.deviceId}`;

function append<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/**
 * Handles `up.<device>.reply` in batches: one query loads the waiting commands of every device of
 * the batch, the seed's matching rules decide in memory (each device's answers in arrival order),
 * and one statement applies every completion, failure and delivery with guarded updates. An answer
 * whose command was finished elsewhere in between is matched again in the next round, after the
 * answers of its device that did apply.
 */
export class ReplyHandler {
  readonly #deps: ReplyHandlerDeps;

  constructor(deps: ReplyHandlerDeps) {
    this.#deps = deps;
  }

  async handleBatch(msgs: readonly JsMsg[]): Promise<void> {
    const replies: PendingReply[] = [];
    const decoded: JsMsg[] = [];
    for (const msg of msgs) {
      try {
        const { typ, payload } = decodeBusMessage(msg.data, CommandReply);
        replies.push({ typ, reply: payload, lost: 0 });
        decoded.push(msg);
      } catch (err) {
        this.#deps.metrics.replies.inc({ result: 'invalid' });
        this.#deps.terminate(msg, `undecodable command reply: ${(err as Error).message}`);
      }
    }
    await this.apply(replies);
    for (const msg of decoded) msg.ack();
  }

  /** Applies answers (in arrival order per device) in as few rounds as their commands allow. */
  async apply(replies: readonly PendingReply[]): Promise<void> {
    const queues = new Map<string, PendingReply[]>();
    for (const r of replies) append(queues, deviceKey(r.reply), r);
    while (queues.size > 0) {
      const candidates = await this.#candidates(queues);
      const round = planRound(
        queues,
        (key) => candidates.get(key) ?? new DeviceCandidates([]),
        this.#deps.validate,
      );
      for (const { reply, why } of round.unmatched) this.#unmatched(reply, why);
      const applied = await this.#deps.ledger.transitionMany(round.planned.map((p) => p.request));
      round.planned.forEach((planned, i) => {
        const retry = this.#settle(planned, applied[i]);
        if (retry) queues.get(deviceKey(retry.reply))?.unshift(retry);
      });
      for (const [key, queue] of queues) if (queue.length === 0) queues.delete(key);
    }
  }

  /** The commands each device's answers may take, loaded for every device in one query. */
  async #candidates(queues: ReadonlyMap<string, PendingReply[]>): Promise<Map<string, DeviceCandidates>> {
    const devices: DeviceRef[] = [];
    const named: Array<{ tenant: string; commandId: string }> = [];
    for (const queue of queues.values()) {
      const first = queue[0]!.reply;
      devices.push({ tenant: first.tenant, deviceId: first.deviceId });
      for (const { reply } of queue)
        if (reply.commandId) named.push({ tenant: reply.tenant, commandId: reply.commandId });
    }
    const byDevice = new Map<string, CommandView[]>();
    for (const command of await this.#deps.ledger.awaitingAnswers(devices, named))
      append(byDevice, deviceKey(command), command);
    return new Map([...byDevice].map(([key, commands]) => [key, new DeviceCandidates(commands)]));
  }

  /** Counts and logs an applied answer; returns it if it should be matched again. */
  #settle(planned: PlannedReply, change: CommandView | undefined): PendingReply | undefined {
    const { reply } = planned.reply;
    if (change) {
      this.#deps.metrics.replies.inc({ result: 'matched' });
      if (planned.rematch) {
        const response = (reply.text ?? reply.output ?? '').slice(0, 200);
        this.#deps.log.info({ deviceId: reply.deviceId, commandId: change.id, response }, 'command answered');
      }
      return undefined;
    }
    if (!planned.rematch) {
      this.#deps.metrics.replies.inc({ result: 'unmatched' });
      return undefined;
    }
    const lost = planned.reply.lost + 1;
    if (lost < MAX_MATCH_ROUNDS) return { ...planned.reply, lost };
    this.#unmatched(planned.reply, 'every matching command was finished by someone else');
    return undefined;
  }

  #unmatched({ reply }: PendingReply, why: string): void {
    this.#deps.metrics.replies.inc({ result: 'unmatched' });
    this.#deps.log.warn(
      { deviceId: reply.deviceId, commandId: reply.commandId, text: reply.text?.slice(0, 200), why },
      'device answer matched no command',
    );
  }
}
