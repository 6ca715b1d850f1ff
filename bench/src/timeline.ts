/**
 * Second by second: what was fired, how long it took, and who had the CPU meanwhile. A run's
 * p99 alone cannot tell a pipeline that slowly falls behind from one that stalls now and then.
 */
import { type CpuSnapshot, cpuBetween, cpuSnapshot } from './cpu.ts';
import { ms, Samples, table } from './stack.ts';

type Processes = () => Array<{ name: string; pid: number; withChildren?: boolean }>;

export class Timeline {
  readonly #start: number;
  readonly #latencies: Samples[] = [];
  readonly #fired: number[] = [];
  readonly #cpu: Array<Array<[string, number]>> = [];
  readonly #timer: NodeJS.Timeout;

  /** `start` is the performance.now() that second 0 counts from. */
  constructor(start: number, processes: Processes) {
    this.#start = start;
    let last: CpuSnapshot = cpuSnapshot(processes());
    this.#timer = setInterval(() => {
      const now = cpuSnapshot(processes());
      this.#cpu.push(cpuBetween(last, now, 1));
      last = now;
    }, 1000);
  }

  #second(at: number): number {
    return Math.max(0, Math.floor((at - this.#start) / 1000));
  }

  fired(at: number): void {
    const s = this.#second(at);
    this.#fired[s] = (this.#fired[s] ?? 0) + 1;
  }

  /** A latency, filed under the second its item was fired in. */
  done(firedAt: number, latencyMs: number): void {
    const s = this.#second(firedAt);
    this.#latencies[s] ??= new Samples();
    this.#latencies[s].add(latencyMs);
  }

  stopSampling(): void {
    clearInterval(this.#timer);
  }

  /** One row per second: fired, done, latency p50/p99/max, then CPU % per process (names shortened). */
  render(): string {
    const names = (this.#cpu[0] ?? []).map(([name]) => name);
    const rows = [['s', 'fired', 'done', 'p50 / p99 / max ms', ...names.map(shortName)]];
    // The seconds after the last one fired show the drain.
    const seconds = Math.max(this.#fired.length, this.#cpu.length);
    for (let s = 0; s < seconds; s++) {
      const l = this.#latencies[s]?.summary();
      const cpu = new Map(this.#cpu[s] ?? []);
      rows.push([
        String(s),
        String(this.#fired[s] ?? 0),
        String(l?.n ?? 0),
        l ? `${ms(l.p50)} / ${ms(l.p99)} / ${ms(l.max)}` : '—',
        ...names.map((n) => (cpu.has(n) ? cpu.get(n)!.toFixed(0) : '')),
      ]);
    }
    return table(rows);
  }
}

function shortName(name: string): string {
  return name.replace('(machine total)', 'machine').replace(' (load)', '').replace('nats-server', 'nats');
}
