import {
  type CommandDispatch,
  type CommandId,
  encodeBusMessage,
  MSG_TYPE,
  PROTO,
  type Subjects,
} from '@fleetwire/protocol';
import type { JetStreamPublisher, Logger } from '@fleetwire/runtime';
import { type CommandView, stateChangeMsgId, toStateChange } from './command-view.ts';
import type { PendingDispatch } from './ledger-tx.ts';

/**
 * What the ledger puts on JetStream: state events on `cmd.<device>.<state>` and work items on
 * `dispatch.<device>`. Shared by the publish-after-commit path and the outbox relay, so a
 * republished event is byte for byte the event the first publish would have been (same msgId).
 */
export class LedgerEvents {
  readonly #publisher: JetStreamPublisher;
  readonly #subjects: Subjects;
  readonly #log: Logger;

  constructor(deps: { publisher: JetStreamPublisher; subjects: Subjects; log: Logger }) {
    this.#publisher = deps.publisher;
    this.#subjects = deps.subjects;
    this.#log = deps.log;
  }

  /** Publishes a dispatch work item; throws if the stream did not store it. */
  async dispatch(item: PendingDispatch): Promise<void> {
    const payload: CommandDispatch = {
      tenant: item.tenant,
      deviceId: item.deviceId,
      reason: item.reason,
      ...(item.commandId ? { commandId: item.commandId as CommandId } : {}),
    };
    await this.#publisher.publish(
      this.#subjects.dispatch(item.tenant, item.deviceId),
      encodeBusMessage(PROTO.COMMAND, MSG_TYPE.COMMAND.DISPATCH, payload),
    );
  }

  /** Publishes one state event; false (logged) if it was not stored: its outbox row stays pending. */
  async change(change: CommandView, republished = false): Promise<boolean> {
    // The ids go on each line rather than into a child logger: a child per event costs more than
    // the lines it would carry (none at all below `info`).
    const ids = { deviceId: change.deviceId, commandId: change.id };
    const log = this.#log;
    try {
      const bytes = encodeBusMessage(PROTO.COMMAND, MSG_TYPE.COMMAND.STATE, toStateChange(change));
      const ack = await this.#publisher.publish(
        this.#subjects.cmd(change.tenant, change.deviceId, change.state),
        bytes,
        { msgId: stateChangeMsgId(change) },
      );
      if (republished)
        log.warn(
          { ...ids, state: change.state, attempt: change.attempts, duplicate: ack.duplicate },
          'state event relayed',
        );
      else log.info({ ...ids, state: change.state, attempt: change.attempts }, 'command state changed');
      return true;
    } catch (err) {
      log.error(
        { ...ids, err, state: change.state },
        'command state event could not be published; the outbox relay retries it',
      );
      return false;
    }
  }

  /** `dispatch` that reports failure (logged) instead of throwing. */
  async tryDispatch(item: PendingDispatch): Promise<boolean> {
    try {
      await this.dispatch(item);
      return true;
    } catch (err) {
      this.#log.error(
        { err, deviceId: item.deviceId, commandId: item.commandId, reason: item.reason },
        'dispatch item could not be published; the outbox relay retries it',
      );
      return false;
    }
  }
}
