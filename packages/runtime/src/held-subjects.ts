import type { Subjects, TenantId } from '@fleetwire/protocol';
import type { NatsHandle } from './nats.ts';

/** One subject of webhook retries held in NOTIFY (`notify.held.<hostKey>.<dueAtSec>`), with its message count. */
export interface HeldSubject {
  subject: string;
  tenant: TenantId;
  hostKey: string;
  dueAtSec: number;
  /** Messages held under it. */
  count: number;
}

/**
 * The held-retry subjects NOTIFY stores under `filter` (`notifyHeldAll(…)` or `notifyHeldFor(…)`),
 * from the stream's per-subject counts: read by the notifier's release loop and the API's listing.
 */
export async function listHeldSubjects(
  jsm: NatsHandle['jsm'],
  stream: string,
  subjects: Subjects,
  filter: string,
): Promise<HeldSubject[]> {
  const info = await jsm.streams.info(stream, { subjects_filter: filter });
  const held: HeldSubject[] = [];
  for (const [subject, count] of Object.entries<number>(info.state.subjects ?? {})) {
    const parsed = subjects.parse(subject);
    if (parsed.type !== 'notify-held') continue;
    held.push({ subject, tenant: parsed.tenant, hostKey: parsed.hostKey, dueAtSec: parsed.dueAtSec, count });
  }
  return held;
}
