import type { CommandLedger } from '@fleetwire/ledger';
import { decodeBusMessage, PresenceEvent } from '@fleetwire/protocol';
import type { Logger } from '@fleetwire/runtime';
import type { JsMsg } from '@nats-io/jetstream';

/** A device that comes online gets its open commands looked at again, oldest first. */
export class PresenceHandler {
  readonly #ledger: CommandLedger;
  readonly #log: Logger;
  readonly #terminate: (msg: JsMsg, reason: string) => void;

  constructor(deps: { ledger: CommandLedger; log: Logger; terminate(msg: JsMsg, reason: string): void }) {
    this.#ledger = deps.ledger;
    this.#log = deps.log;
    this.#terminate = deps.terminate;
  }

  async handle(msg: JsMsg): Promise<void> {
    let event: PresenceEvent;
    try {
      event = decodeBusMessage(msg.data, PresenceEvent).payload;
    } catch (err) {
      this.#terminate(msg, `undecodable presence event: ${(err as Error).message}`);
      return;
    }
    if (event.state === 'online' && (await this.#ledger.hasOpenCommands(event.tenant, event.deviceId))) {
      await this.#ledger.requestDispatch(event.tenant, event.deviceId, 'online');
      this.#log.info(
        { deviceId: event.deviceId, epoch: event.epoch },
        'device online; open commands dispatched',
      );
    }
    msg.ack();
  }
}
