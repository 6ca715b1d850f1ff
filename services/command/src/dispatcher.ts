import type { CommandLedger, CommandView, LedgerTx } from '@fleetwire/ledger';
import { CommandDispatch, type DeviceId, decodeBusMessage, type TenantId } from '@fleetwire/protocol';
import type { Logger } from '@fleetwire/runtime';
import type { JsMsg } from '@nats-io/jetstream';
import type { DownlinkOutcome } from './adapters/downlink.ts';
import { decideDispatch, revisitAfterSendMs } from './dispatch-policy.ts';
import type { CommandMetrics } from './metrics.ts';

/** What becomes of the work item: done, or come back after a delay. */
export type ItemOutcome = { kind: 'ack' } | { kind: 'nak'; delayMs: number };

export interface DispatcherDeps {
  ledger: CommandLedger;
  downlink: { send(command: CommandView): Promise<DownlinkOutcome> };
  metrics: CommandMetrics;
  log: Logger;
  busyRetryMs: number;
  terminate(msg: JsMsg, reason: string): void;
}

/** Commands that fail or expire while we look are stepped over; this bounds one item's work. */
const MAX_STEPS = 20;

/**
 * Handles `dispatch.<device>` items: sends the device's oldest open command while holding its row
 * lock, so instances never send the same attempt twice, and turns the edge's answer into the next
 * state plus what happens to the item. Retries are the item itself coming back (delayed NAK).
 */
export class Dispatcher {
  readonly #deps: DispatcherDeps;

  constructor(deps: DispatcherDeps) {
    this.#deps = deps;
  }

  async handle(msg: JsMsg): Promise<void> {
    let item: CommandDispatch;
    try {
      item = decodeBusMessage(msg.data, CommandDispatch).payload;
    } catch (err) {
      this.#deps.terminate(msg, `undecodable dispatch item: ${(err as Error).message}`);
      return;
    }
    const outcome = await this.dispatchDevice(item.tenant, item.deviceId);
    if (outcome.kind === 'ack') msg.ack();
    else msg.nak(outcome.delayMs);
  }

  /** Looks at one device's queue and moves it forward as far as it can now. */
  dispatchDevice(tenant: TenantId, deviceId: DeviceId): Promise<ItemOutcome> {
    return this.#deps.ledger.unitOfWork(async (work) => {
      const outcome = await this.#advance(work, tenant, deviceId);
      // This item (or the instance holding the head) covers the device; no extra items needed.
      work.discardDispatches();
      return outcome;
    });
  }

  async #advance(work: LedgerTx, tenant: TenantId, deviceId: DeviceId): Promise<ItemOutcome> {
    for (let step = 0; step < MAX_STEPS; step++) {
      const head = await work.lockHead(tenant, deviceId);
      // Idle: nothing to send. Busy elsewhere: the instance holding the head keeps its own item.
      if (head.kind !== 'head') return { kind: 'ack' };
      const { command, nowMs } = head;
      const log = this.#deps.log.child({ deviceId, commandId: command.id });
      const decision = decideDispatch(command, nowMs);
      switch (decision.kind) {
        case 'expire':
          await work.transition(tenant, command.id, {
            to: 'expired',
            error: 'expired: no answer before its time to live',
          });
          continue;
        case 'exhausted':
          log.info({ attempts: decision.attempts }, 'command unanswered after its last attempt');
          await work.transition(tenant, command.id, {
            to: 'failed',
            error: `no response after ${decision.attempts} attempts`,
          });
          continue;
        case 'wait':
          return { kind: 'nak', delayMs: decision.delayMs };
        case 'send': {
          const next = await this.#send(work, command, decision.attempt, nowMs, log);
          if (next === 'continue') continue;
          return next;
        }
      }
    }
    return { kind: 'nak', delayMs: this.#deps.busyRetryMs };
  }

  async #send(
    work: LedgerTx,
    command: CommandView,
    attempt: number,
    nowMs: number,
    log: Logger,
  ): Promise<ItemOutcome | 'continue'> {
    const { downlink, metrics, busyRetryMs } = this.#deps;
    const started = performance.now();
    const result = await downlink.send(command);
    metrics.dispatches.inc({ outcome: result.kind });
    metrics.dispatchSeconds.observe({ outcome: result.kind }, (performance.now() - started) / 1000);
    switch (result.kind) {
      case 'ack': {
        const sent = await work.transition(command.tenant, command.id, {
          to: 'sent',
          attempts: attempt,
          expectAttempts: attempt - 1,
        });
        if (sent && attempt === 1)
          metrics.queuedSeconds.observe((nowMs - Date.parse(command.createdAt)) / 1000);
        log.info({ attempt }, 'command written to the device');
        return { kind: 'nak', delayMs: revisitAfterSendMs(command, nowMs) };
      }
      case 'busy':
      case 'timeout':
        log.debug({ result }, 'edge busy; trying again shortly');
        return { kind: 'nak', delayMs: busyRetryMs };
      case 'offline':
        log.debug('device offline; the command waits for it to come online');
        return { kind: 'ack' };
      case 'rejected':
        log.warn({ code: result.code, error: result.error }, 'edge refused the command');
        await work.transition(command.tenant, command.id, { to: 'failed', error: result.error });
        return 'continue';
    }
  }
}
