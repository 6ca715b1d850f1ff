import type {
  CommandLedger,
  CommandView,
  DeviceHead,
  LedgerTx,
  TransitionChange,
  TransitionRequest,
} from '@fleetwire/ledger';
import {
  CommandDispatch,
  type DeviceId,
  decodeBusMessage,
  type Subjects,
  type TenantId,
} from '@fleetwire/protocol';
import type { Logger } from '@fleetwire/runtime';
import type { JsMsg } from '@nats-io/jetstream';
import type { DownlinkOutcome } from './adapters/downlink.ts';
import type { AttemptTimers, WaitingFor } from './attempt-timers.ts';
import { decideDispatch, revisitAfterSendMs } from './dispatch-policy.ts';
import type { CommandMetrics } from './metrics.ts';

/**
 * What becomes of the work item: done, or come back after a delay. `waitsFor`: the delay is a
 * running attempt of that command, so the item is released early if the command ends.
 */
export type ItemOutcome = { kind: 'ack' } | { kind: 'nak'; delayMs: number; waitsFor?: WaitingFor };

export interface DispatcherDeps {
  ledger: CommandLedger;
  downlink: { send(command: CommandView): Promise<DownlinkOutcome> };
  metrics: CommandMetrics;
  log: Logger;
  busyRetryMs: number;
  /** Holds the items that wait for an attempt, to release them when their command ends. */
  attemptTimers: Pick<AttemptTimers, 'park'>;
  terminate(msg: JsMsg, reason: string): void;
}

/** One device of a batch, with every work item that asked for it. */
export interface DeviceWork {
  tenant: TenantId;
  deviceId: DeviceId;
  /** Some item is new (a queued event): a command was created for this device since it was last looked at. */
  hasNew?: boolean;
}

/** What a work message asks for: look at this device; `isNew` if a command was just created for it. */
export interface WorkItem {
  tenant: TenantId;
  deviceId: DeviceId;
  isNew: boolean;
}

export type WorkItemOf = (msg: JsMsg) => WorkItem;

/**
 * Reads the dispatcher's two kinds of work message: a new command's `cmd.<device>.queued` event
 * (only its subject matters) and a `dispatch.<device>` item (online, retry, or `new` from an API
 * that still publishes them). Throws on anything else.
 */
export function workItemReader(subjects: Subjects): WorkItemOf {
  return (msg) => {
    const parsed = subjects.parse(msg.subject);
    if (parsed.type === 'cmd') {
      if (parsed.state !== 'queued') throw new Error(`unexpected state event ${msg.subject}`);
      return { tenant: parsed.tenant, deviceId: parsed.deviceId, isNew: true };
    }
    const item = decodeBusMessage(msg.data, CommandDispatch).payload;
    return { tenant: item.tenant, deviceId: item.deviceId, isNew: item.reason === 'new' };
  };
}

/** Commands that fail or expire while we look are stepped over; this bounds one batch's work. */
const MAX_STEPS = 20;

/** A head the edge is asked to take. */
interface Send {
  index: number;
  command: CommandView;
  attempt: number;
  nowMs: number;
  log: Logger;
}

/** What one step decided for one device (`index` into the batch). */
interface Step {
  index: number;
  /** The item's outcome, once known. */
  outcome?: ItemOutcome;
  /** Ask the edge to take the head. */
  send?: Send;
  /** A transition of the head to record. */
  finish?: TransitionRequest;
  /** The head was written to the device (`finish` records it). */
  sent?: Send;
  /** Look at the device again in the next step (its head finished). */
  next?: boolean;
}

/**
 * Handles `dispatch.<device>` items in batches: one transaction locks the heads of every device of
 * the batch, asks their edges concurrently while holding those row locks (so instances never send
 * the same attempt twice), records every outcome set-based, commits, then settles each item.
 * Retries are the items themselves coming back (delayed NAK).
 */
export class Dispatcher {
  readonly #deps: DispatcherDeps;

  constructor(deps: DispatcherDeps) {
    this.#deps = deps;
  }

  /**
   * Items of one device are handled once; the first carries the device's outcome, the others are
   * acked. `itemOf` reads a message: a dispatch item or a new command's queued event.
   */
  async handleBatch(msgs: readonly JsMsg[], itemOf: WorkItemOf): Promise<void> {
    const byDevice = new Map<string, { work: DeviceWork; msgs: JsMsg[] }>();
    for (const msg of msgs) {
      let item: WorkItem;
      try {
        item = itemOf(msg);
      } catch (err) {
        this.#deps.terminate(msg, `undecodable dispatch item: ${(err as Error).message}`);
        continue;
      }
      const key = `${item.tenant}/${item.deviceId}`;
      const entry = byDevice.get(key) ?? { work: { tenant: item.tenant, deviceId: item.deviceId }, msgs: [] };
      entry.msgs.push(msg);
      if (item.isNew) entry.work.hasNew = true;
      byDevice.set(key, entry);
    }
    const devices = [...byDevice.values()];
    const outcomes = await this.dispatchDevices(devices.map((d) => d.work));
    devices.forEach((device, i) => {
      const [first, ...rest] = device.msgs;
      const outcome = outcomes[i]!;
      if (!first) return;
      if (outcome.kind === 'ack') first.ack();
      else if (outcome.waitsFor) this.#deps.attemptTimers.park(first, outcome.waitsFor, outcome.delayMs);
      else first.nak(outcome.delayMs);
      for (const duplicate of rest) duplicate.ack();
    });
  }

  /** Moves every device's queue forward as far as it can now, in one transaction; aligned with `devices`. */
  dispatchDevices(devices: readonly DeviceWork[]): Promise<ItemOutcome[]> {
    return this.#deps.ledger.unitOfWork(async (work) => {
      const outcomes = new Array<ItemOutcome | undefined>(devices.length);
      let pending = devices.map((_, i) => i);
      for (let step = 0; step < MAX_STEPS && pending.length > 0; step++) {
        pending = await this.#step(work, devices, pending, outcomes);
      }
      for (const i of pending) outcomes[i] = { kind: 'nak', delayMs: this.#deps.busyRetryMs };
      // These items (or the instances holding the heads) cover the devices; no extra items needed.
      work.discardDispatches();
      return outcomes as ItemOutcome[];
    });
  }

  /** One step for the pending devices: lock heads, decide, ask edges, record. Returns who goes on. */
  async #step(
    work: LedgerTx,
    devices: readonly DeviceWork[],
    pending: readonly number[],
    outcomes: Array<ItemOutcome | undefined>,
  ): Promise<number[]> {
    const heads = await work.lockHeads(pending.map((i) => devices[i]!));
    const decided = heads.map((head, n) => this.#decide(head, devices[pending[n]!]!, pending[n]!));
    const sends = decided.flatMap((d) => (d.send ? [d.send] : []));
    const answers = await Promise.all(sends.map((s) => this.#ask(s)));
    const answered = sends.map((send, n) => this.#afterAnswer(send, answers[n]!));
    const done = [...decided, ...answered];
    for (const d of done) if (d.outcome) outcomes[d.index] = d.outcome;
    const finishes = done.flatMap((d) => (d.finish ? [d] : []));
    const views = await work.transitionMany(finishes.map((f) => f.finish!));
    finishes.forEach((f, n) => {
      if (f.sent) this.#recordSent(f.sent, views[n]);
    });
    return finishes.filter((f) => f.next).map((f) => f.index);
  }

  #decide(head: DeviceHead, device: DeviceWork, index: number): Step {
    if (head.kind === 'idle') return { index, outcome: { kind: 'ack' } };
    if (head.kind === 'busy-elsewhere') {
      // Whoever holds the head keeps its own item. But a holder that is finishing the head decides
      // whether the device needs another look from a snapshot that may predate a command created
      // just now: a `new` item comes back shortly instead of trusting it.
      const outcome: ItemOutcome = device.hasNew
        ? { kind: 'nak', delayMs: this.#deps.busyRetryMs }
        : { kind: 'ack' };
      return { index, outcome };
    }
    const { command, nowMs } = head;
    const log = this.#deps.log.child({ deviceId: command.deviceId, commandId: command.id });
    const decision = decideDispatch(command, nowMs);
    switch (decision.kind) {
      case 'expire':
        return finishing(index, command, {
          to: 'expired',
          error: 'expired: no answer before its time to live',
        });
      case 'exhausted':
        log.info({ attempts: decision.attempts }, 'command unanswered after its last attempt');
        return finishing(index, command, {
          to: 'failed',
          error: `no response after ${decision.attempts} attempts`,
        });
      case 'wait':
        return {
          index,
          outcome: { kind: 'nak', delayMs: decision.delayMs, waitsFor: waiting(command, device) },
        };
      case 'send':
        return { index, send: { index, command, attempt: decision.attempt, nowMs, log } };
    }
  }

  /** Asks the edge; an unexpected error counts as busy, so it does not undo the batch's other sends. */
  async #ask(send: Send): Promise<DownlinkOutcome> {
    const { downlink, metrics } = this.#deps;
    const started = performance.now();
    const result = await downlink.send(send.command).catch((err: Error): DownlinkOutcome => {
      send.log.warn({ err }, 'downlink request failed; trying again shortly');
      return { kind: 'busy', reason: err.message };
    });
    metrics.dispatches.inc({ outcome: result.kind });
    metrics.dispatchSeconds.observe({ outcome: result.kind }, (performance.now() - started) / 1000);
    return result;
  }

  #afterAnswer(send: Send, result: DownlinkOutcome): Step {
    const { command, attempt, nowMs, log, index } = send;
    switch (result.kind) {
      case 'ack':
        // Written: record `sent`, and look again when the attempt times out.
        return {
          index,
          sent: send,
          finish: {
            tenant: command.tenant,
            commandId: command.id,
            change: { to: 'sent', attempts: attempt, expectAttempts: attempt - 1 },
          },
          // This batch's new commands were committed before the send, so whatever ends this
          // command sees them and asks for the device's next look: the item can simply be acked.
          outcome: {
            kind: 'nak',
            delayMs: revisitAfterSendMs(command, nowMs),
            waitsFor: { commandId: command.id, releaseBy: 'ack' },
          },
        };
      case 'busy':
      case 'timeout':
        log.debug({ result }, 'edge busy; trying again shortly');
        return { index, outcome: { kind: 'nak', delayMs: this.#deps.busyRetryMs } };
      case 'offline':
        log.debug('device offline; the command waits for it to come online');
        return { index, outcome: { kind: 'ack' } };
      case 'rejected':
        log.warn({ code: result.code, error: result.error }, 'edge refused the command');
        return finishing(index, command, { to: 'failed', error: result.error });
    }
  }

  #recordSent(send: Send, sent: CommandView | undefined): void {
    const { command, attempt, nowMs, log } = send;
    if (sent && attempt === 1)
      this.#deps.metrics.queuedSeconds.observe((nowMs - Date.parse(command.createdAt)) / 1000);
    log.info({ attempt }, 'command written to the device');
  }
}

/**
 * An item that found another item's attempt running. If it brought a new command, the statement
 * that ends the running one may predate that command (and so not ask for the device's next look).
 */
function waiting(command: CommandView, device: DeviceWork): WaitingFor {
  return { commandId: command.id, releaseBy: device.hasNew ? 'redeliver' : 'ack' };
}

/** The head finished here (expired, failed); the device is looked at again in the next step. */
function finishing(index: number, command: CommandView, change: TransitionChange): Step {
  return { index, next: true, finish: { tenant: command.tenant, commandId: command.id, change } };
}
