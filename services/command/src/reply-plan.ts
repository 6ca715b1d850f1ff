import { type CommandView, isTerminal, matchResponse, type TransitionRequest } from '@fleetwire/ledger';
import { type CommandReply, MSG_TYPE } from '@fleetwire/protocol';

/** One device answer from `up.<device>.reply`, and how often it was matched already. */
export interface PendingReply {
  typ: string;
  reply: CommandReply;
  /** Rounds in which its match lost to someone else (text answers are matched again). */
  lost: number;
}

/** What an answer does to the ledger. */
export type ReplyDecision =
  /** Nothing to do (an ack that names no command). */
  | { kind: 'ignore' }
  | { kind: 'unmatched'; why: string }
  /** `rematch`: matched by the seed's rules, so another command may take it if this one is gone. */
  | { kind: 'transition'; request: TransitionRequest; rematch: boolean };

export interface PlannedReply {
  reply: PendingReply;
  request: TransitionRequest;
  rematch: boolean;
}

export interface ReplyRound {
  /** Transitions to apply together, each command at most once. */
  planned: PlannedReply[];
  unmatched: Array<{ reply: PendingReply; why: string }>;
}

/**
 * The commands of one device that may take an answer: sent or delivered ones oldest first, plus
 * named ones still queued (an answer may overtake the commit that marks its command sent). Answers
 * planned earlier in the same round take their command out, as if each answer had been applied
 * before the next one was matched.
 */
export class DeviceCandidates {
  #waiting: CommandView[];
  readonly #queuedNamed: Map<string, CommandView>;

  constructor(commands: readonly CommandView[]) {
    this.#waiting = commands.filter((c) => c.state === 'sent' || c.state === 'delivered');
    this.#queuedNamed = new Map(commands.filter((c) => c.state === 'queued').map((c) => [c.id, c]));
  }

  /** The device's commands waiting for an answer, with the named one first if only it is queued. */
  for(commandId: string | undefined): CommandView[] {
    const named = commandId === undefined ? undefined : this.#queuedNamed.get(commandId);
    if (named && !this.#waiting.some((c) => c.id === commandId)) return [named, ...this.#waiting];
    return this.#waiting;
  }

  /** What a planned transition does to the candidates. */
  take(request: TransitionRequest): void {
    const { commandId, change } = request;
    if (isTerminal(change.to)) {
      this.#waiting = this.#waiting.filter((c) => c.id !== commandId);
      this.#queuedNamed.delete(commandId);
    } else if (change.to === 'delivered') {
      this.#waiting = this.#waiting.map((c) => (c.id === commandId ? { ...c, state: 'delivered' } : c));
    }
  }
}

/**
 * Decides one answer: COMMAND/ack → delivered, COMMAND/result → completed or failed (by its
 * command id), COMMAND/reply (tracker free text) → the command it answers, by id first, then the
 * seed's rules (`matchResponse`).
 */
export function decideReply(
  { typ, reply }: PendingReply,
  candidates: DeviceCandidates,
  validate: boolean,
): ReplyDecision {
  const { tenant, commandId } = reply;
  const to = (id: string, change: TransitionRequest['change'], rematch = false): ReplyDecision => ({
    kind: 'transition',
    request: { tenant, commandId: id, change },
    rematch,
  });
  switch (typ) {
    case MSG_TYPE.COMMAND.ACK:
      return commandId ? to(commandId, { to: 'delivered' }) : { kind: 'ignore' };
    case MSG_TYPE.COMMAND.RESULT:
      if (!commandId) return { kind: 'unmatched', why: 'result without a command id' };
      return reply.ok === false
        ? to(commandId, { to: 'failed', error: reply.error ?? 'the device reported a failure' })
        : to(commandId, { to: 'completed', response: reply.output ?? reply.text ?? '' });
    case MSG_TYPE.COMMAND.REPLY: {
      if (reply.ok === false && commandId)
        return to(commandId, { to: 'failed', error: reply.error ?? 'the device refused the command' });
      const text = reply.text ?? reply.output ?? '';
      const options = { validate, ...(commandId ? { commandId } : {}) };
      const match = matchResponse(text, candidates.for(commandId), options);
      if (!match) return { kind: 'unmatched', why: 'no waiting command takes this answer' };
      return to(match.id, { to: 'completed', response: text }, true);
    }
    default:
      return { kind: 'unmatched', why: `unexpected message type ${typ}` };
  }
}

/**
 * Plans one round for many devices: each device's answers in arrival order, until one targets a
 * command another answer of this round already changes (an ack and the result of one command):
 * that answer and the ones after it wait for the next round, which sees the first change applied.
 * `queues` are consumed: what was planned or found unmatched is removed.
 */
export function planRound(
  queues: ReadonlyMap<string, PendingReply[]>,
  candidatesOf: (deviceKey: string) => DeviceCandidates,
  validate: boolean,
): ReplyRound {
  const round: ReplyRound = { planned: [], unmatched: [] };
  const targeted = new Set<string>();
  for (const [deviceKey, queue] of queues) {
    const candidates = candidatesOf(deviceKey);
    while (queue.length > 0) {
      const next = queue[0]!;
      const decision = decideReply(next, candidates, validate);
      if (decision.kind === 'transition') {
        const target = `${decision.request.tenant}/${decision.request.commandId}`;
        if (targeted.has(target)) break;
        targeted.add(target);
        candidates.take(decision.request);
        round.planned.push({ reply: next, request: decision.request, rematch: decision.rematch });
      } else if (decision.kind === 'unmatched') {
        round.unmatched.push({ reply: next, why: decision.why });
      }
      queue.shift();
    }
  }
  return round;
}
