/**
 * CPU accounting from /proc: cheap, and it shows which process the 2 cores go to.
 */
import fs from 'node:fs';

export const CLK_TCK = 100;

export function ticksOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

export type CpuSnapshot = Map<string, number>;

export function cpuSnapshot(
  procs: Array<{ name: string; pid: number; withChildren?: boolean }>,
): CpuSnapshot {
  const snap: CpuSnapshot = new Map();
  for (const p of procs) {
    const pids = p.withChildren ? [p.pid, ...childrenOf(p.pid)] : [p.pid];
    snap.set(
      p.name,
      pids.reduce((sum, pid) => sum + ticksOf(pid), 0),
    );
  }
  snap.set('(machine total)', machineBusyTicks());
  return snap;
}

function machineBusyTicks(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
}

/** CPU use per process between two snapshots, in percent of one core. */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot, seconds: number): Array<[string, number]> {
  return [...b].map(([name, ticks]) => [name, ((ticks - (a.get(name) ?? 0)) / CLK_TCK / seconds) * 100]);
}

/** Postgres backends appear only once they connect, so a snapshot is taken per measurement window. */
export function formatCpu(rows: Array<[string, number]>): string {
  return rows.map(([name, pct]) => `${name} ${pct.toFixed(0)}%`).join(' · ');
}
