/**
 * A work item that waits for an attempt to time out is NAKed with that delay, and JetStream counts
 * it against the consumer's max_ack_pending for the whole delay. Most commands are answered within
 * a second, so such an item is released (acked) as soon as its command ends. Without that the
 * pending count grows to rate × attempt timeout and intake stalls at the limit, which caps the
 * sustained rate at max_ack_pending / attempt timeout (10,000 / 30 s ≈ 333 commands/s); every
 * item also comes back once only to find its command finished.
 */

/** The part of a JetStream message this needs. */
export interface ParkableItem {
  /**
   * The ack subject. nats.js's JsMsg carries it at run time without declaring it in its type; an
   * item without one is only NAKed (the service's tests check that parked items are released).
   */
  readonly reply?: string;
  ack(): void;
  nak(delayMs: number): void;
}

/**
 * How an item is let go when its command ends. `ack`: the device needs no other look from it (the
 * ledger publishes a dispatch item when a finished command leaves others waiting). `redeliver`: the
 * item may carry a command created while the finishing statement ran, which that statement's
 * snapshot did not see; it comes back at once instead.
 */
export type ReleaseBy = 'ack' | 'redeliver';

export interface WaitingFor {
  commandId: string;
  releaseBy: ReleaseBy;
}

export interface AttemptTimersDeps {
  /** Settles an item by its reply subject (the message object refuses a second settlement). */
  settle(reply: string, how: ReleaseBy): void;
  now?: () => number;
}

/**
 * No release this close to the redelivery: the item may already be on its way to another instance,
 * and an ack would settle that delivery, whose own NAK (the device's next command) would then be lost.
 */
export const RELEASE_MARGIN_MS = 2_000;
/** How long an ended command is remembered: covers an answer that beats its item's NAK. */
export const ENDED_MEMORY_MS = 10_000;

interface Parked {
  reply: string;
  releaseBy: ReleaseBy;
  /** Before this (local clock), JetStream has not redelivered the item. */
  releasableUntil: number;
}

export class AttemptTimers {
  readonly #deps: AttemptTimersDeps;
  readonly #now: () => number;
  readonly #parked = new Map<string, Parked[]>();
  /** Two generations: an id stays between ENDED_MEMORY_MS and twice that. */
  #ended = new Set<string>();
  #endedBefore = new Set<string>();
  #rotatedAt: number;

  constructor(deps: AttemptTimersDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? (() => performance.now());
    this.#rotatedAt = this.#now();
  }

  /** Settles an item that waits for a command: released at once if it already ended, else NAKed and parked. */
  park(item: ParkableItem, { commandId, releaseBy }: WaitingFor, delayMs: number): void {
    if (this.#ended.has(commandId) || this.#endedBefore.has(commandId)) {
      if (releaseBy === 'ack') item.ack();
      else item.nak(0);
      return;
    }
    item.nak(delayMs);
    const releasableUntil = this.#now() + delayMs - RELEASE_MARGIN_MS;
    if (releasableUntil <= this.#now() || typeof item.reply !== 'string') return;
    const list = this.#parked.get(commandId);
    const parked = { reply: item.reply, releaseBy, releasableUntil };
    if (list) list.push(parked);
    else this.#parked.set(commandId, [parked]);
  }

  /** A command reached a terminal state (seen on the bus: this instance or another finished it). */
  ended(commandId: string): void {
    this.#ended.add(commandId);
    const list = this.#parked.get(commandId);
    if (!list) return;
    this.#parked.delete(commandId);
    const now = this.#now();
    for (const p of list) if (now < p.releasableUntil) this.#deps.settle(p.reply, p.releaseBy);
  }

  /** Items parked now (for tests and metrics). */
  get parked(): number {
    let n = 0;
    for (const list of this.#parked.values()) n += list.length;
    return n;
  }

  /** Forgets items JetStream is about to redeliver anyway, and old endings; run every second or so. */
  prune(): void {
    const now = this.#now();
    for (const [id, list] of this.#parked) {
      const live = list.filter((p) => now < p.releasableUntil);
      if (live.length === 0) this.#parked.delete(id);
      else if (live.length < list.length) this.#parked.set(id, live);
    }
    if (now - this.#rotatedAt >= ENDED_MEMORY_MS) {
      this.#endedBefore = this.#ended;
      this.#ended = new Set();
      this.#rotatedAt = now;
    }
  }
}
