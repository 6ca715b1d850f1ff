import type { Fleet } from './fleet.ts';
import { formatSummary } from './stats.ts';

/** Prints a summary line every `everyMs` (and a last one on stop()). */
export function startSummary(fleet: Fleet, write: (line: string) => void, everyMs: number): { stop(): void } {
  const size = { trackers: fleet.trackers.length, wsDevices: fleet.wsDevices.length };
  let previous = fleet.stats.snapshot();
  const report = () => {
    const current = fleet.stats.snapshot();
    write(`${new Date(current.at).toISOString()} ${formatSummary(size, previous, current)}`);
    previous = current;
  };
  const timer = setInterval(report, everyMs);
  return {
    stop() {
      clearInterval(timer);
      report();
    },
  };
}
