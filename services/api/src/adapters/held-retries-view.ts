import { decodeBusMessage, type Subjects, type TenantId, WebhookDelivery } from '@fleetwire/protocol';
import { listHeldSubjects, type NatsHandle } from '@fleetwire/runtime';

type JetStreamManager = NatsHandle['jsm'];

/** The retries the notifier holds for one webhook host (services/notifier, "Held retries"). */
export interface HeldHost {
  /** The target's origin, read from one of its held deliveries; null if none could be read. */
  host: string | null;
  held: number;
  nextDueAt: string;
  lastDueAt: string;
}

interface HostTally {
  held: number;
  firstDueSec: number;
  lastDueSec: number;
  /** A subject of this host, to read one delivery from. */
  sample: string;
}

/**
 * Reads held webhook retries from NOTIFY: the held subjects' counts (`listHeldSubjects`) say how
 * many wait for which host until when, and one stored delivery per host names the host. Nothing
 * is consumed or changed.
 */
export class HeldRetriesView {
  readonly #jsm: JetStreamManager;
  readonly #stream: string;
  readonly #subjects: Subjects;

  constructor(jsm: JetStreamManager, stream: string, subjects: Subjects) {
    this.#jsm = jsm;
    this.#stream = stream;
    this.#subjects = subjects;
  }

  /** The tenant's held retries per host, the host whose next retry is due first at the top. */
  async byHost(tenant: TenantId): Promise<HeldHost[]> {
    const held = await listHeldSubjects(
      this.#jsm,
      this.#stream,
      this.#subjects,
      this.#subjects.notifyHeldFor(tenant),
    );
    const hosts = new Map<string, HostTally>();
    for (const s of held) {
      if (s.count === 0) continue;
      const tally = hosts.get(s.hostKey);
      if (!tally) {
        hosts.set(s.hostKey, {
          held: s.count,
          firstDueSec: s.dueAtSec,
          lastDueSec: s.dueAtSec,
          sample: s.subject,
        });
        continue;
      }
      tally.held += s.count;
      tally.firstDueSec = Math.min(tally.firstDueSec, s.dueAtSec);
      tally.lastDueSec = Math.max(tally.lastDueSec, s.dueAtSec);
    }
    const listed = await Promise.all(
      [...hosts.values()].map(async (t) => ({
        host: await this.#hostOf(t.sample),
        held: t.held,
        nextDueAt: new Date(t.firstDueSec * 1000).toISOString(),
        lastDueAt: new Date(t.lastDueSec * 1000).toISOString(),
      })),
    );
    return listed.sort(
      (a, b) => a.nextDueAt.localeCompare(b.nextDueAt) || (a.host ?? '').localeCompare(b.host ?? ''),
    );
  }

  /** The origin of the newest delivery held under `subject`; null if it is gone or unreadable. */
  async #hostOf(subject: string): Promise<string | null> {
    try {
      const stored = await this.#jsm.streams.getMessage(this.#stream, { last_by_subj: subject });
      if (!stored) return null;
      return new URL(decodeBusMessage(stored.data, WebhookDelivery).payload.url).origin;
    } catch {
      // Released meanwhile (a 404 from the server), or not a delivery: the count still stands.
      return null;
    }
  }
}
