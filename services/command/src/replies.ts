import { type CommandLedger, type CommandView, isOpen, matchResponse } from '@fleetwire/ledger';
import { CommandReply, decodeBusMessage, MSG_TYPE } from '@fleetwire/protocol';
import type { Logger } from '@fleetwire/runtime';
import type { JsMsg } from '@nats-io/jetstream';
import type { CommandMetrics } from './metrics.ts';

export interface ReplyHandlerDeps {
  ledger: CommandLedger;
  metrics: CommandMetrics;
  log: Logger;
  /** VALIDATE_COMMAND_RESPONSE. */
  validate: boolean;
  terminate(msg: JsMsg, reason: string): void;
}

/** Another instance may finish the matched command first; then the answer is matched again. */
const MAX_MATCH_ROUNDS = 3;

/**
 * Handles `up.<device>.reply`: COMMAND/ack → delivered, COMMAND/result → completed or failed,
 * COMMAND/reply (tracker free text) → the command it answers, by id first, then the seed's rules.
 */
export class ReplyHandler {
  readonly #deps: ReplyHandlerDeps;

  constructor(deps: ReplyHandlerDeps) {
    this.#deps = deps;
  }

  async handle(msg: JsMsg): Promise<void> {
    let decoded: { typ: string; payload: CommandReply };
    try {
      decoded = decodeBusMessage(msg.data, CommandReply);
    } catch (err) {
      this.#deps.metrics.replies.inc({ result: 'invalid' });
      this.#deps.terminate(msg, `undecodable command reply: ${(err as Error).message}`);
      return;
    }
    await this.#apply(decoded.typ, decoded.payload);
    msg.ack();
  }

  async #apply(typ: string, reply: CommandReply): Promise<void> {
    const { ledger } = this.#deps;
    const { tenant, commandId } = reply;
    switch (typ) {
      case MSG_TYPE.COMMAND.ACK:
        if (commandId) this.#count(await ledger.markDelivered(tenant, commandId));
        return;
      case MSG_TYPE.COMMAND.RESULT:
        if (!commandId) return this.#unmatched(reply, 'result without a command id');
        this.#count(
          reply.ok === false
            ? await ledger.fail(tenant, commandId, reply.error ?? 'the device reported a failure')
            : await ledger.complete(tenant, commandId, reply.output ?? reply.text ?? ''),
        );
        return;
      case MSG_TYPE.COMMAND.REPLY:
        return this.#applyText(reply);
      default:
        return this.#unmatched(reply, `unexpected message type ${typ}`);
    }
  }

  async #applyText(reply: CommandReply): Promise<void> {
    const { ledger, validate } = this.#deps;
    const { tenant, deviceId, commandId } = reply;
    if (reply.ok === false && commandId) {
      this.#count(await ledger.fail(tenant, commandId, reply.error ?? 'the device refused the command'));
      return;
    }
    const text = reply.text ?? reply.output ?? '';
    for (let round = 0; round < MAX_MATCH_ROUNDS; round++) {
      const waiting = await this.#waiting(reply);
      const match = matchResponse(text, waiting, { validate, ...(commandId ? { commandId } : {}) });
      if (!match) return this.#unmatched(reply, 'no waiting command takes this answer');
      const completed = await ledger.complete(tenant, match.id, text);
      if (completed) {
        this.#count(completed);
        this.#deps.log.info(
          { deviceId, commandId: match.id, response: text.slice(0, 200) },
          'command answered',
        );
        return;
      }
    }
    this.#unmatched(reply, 'every matching command was finished by someone else');
  }

  /** The device's commands waiting for an answer, plus the named one if its `sent` is not committed yet. */
  async #waiting(reply: CommandReply): Promise<CommandView[]> {
    const { ledger } = this.#deps;
    const waiting = await ledger.awaitingAnswer(reply.tenant, reply.deviceId);
    if (reply.commandId && !waiting.some((c) => c.id === reply.commandId)) {
      const named = await ledger.get(reply.tenant, reply.commandId);
      if (named && named.deviceId === reply.deviceId && isOpen(named.state)) waiting.unshift(named);
    }
    return waiting;
  }

  #count(change: CommandView | undefined): void {
    this.#deps.metrics.replies.inc({ result: change ? 'matched' : 'unmatched' });
  }

  #unmatched(reply: CommandReply, why: string): void {
    this.#deps.metrics.replies.inc({ result: 'unmatched' });
    this.#deps.log.warn(
      { deviceId: reply.deviceId, commandId: reply.commandId, text: reply.text?.slice(0, 200), why },
      'device answer matched no command',
    );
  }
}
