import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Append stdout/stderr to this file instead of inheriting them. */
  logFile?: string;
  /** Run as this uid/gid (used to run PostgreSQL as a non-root user when we are root). */
  uid?: number;
  gid?: number;
  /** Own process group, so a Ctrl-C at the terminal reaches only the parent, which stops children in order. */
  detached?: boolean;
  /** Do not keep the parent's event loop alive for this child. */
  unref?: boolean;
  /** Receive stdout/stderr as pipes (for prefixed combined logs). */
  pipe?: boolean;
}

export function startProcess(opts: StartOptions): ManagedProcess {
  let stdio: 'inherit' | 'pipe' | ['ignore', number, number] = 'inherit';
  if (opts.logFile) {
    const fd = fs.openSync(opts.logFile, 'a');
    stdio = ['ignore', fd, fd];
  } else if (opts.pipe) {
    stdio = 'pipe';
  }
  const child = spawn(opts.command, opts.args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio,
    uid: opts.uid,
    gid: opts.gid,
    detached: opts.detached ?? false,
  });
  if (opts.unref) child.unref();
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', () => resolve('spawn-error'));
  });
  if (child.pid === undefined) throw new Error(`could not start ${opts.name} (${opts.command})`);
  return {
    name: opts.name,
    pid: child.pid,
    child,
    exited,
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sends SIGTERM to a pid we do not own as a child, waits, then SIGKILLs. */
export async function stopPid(
  pid: number,
  graceMs = 10_000,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, signal);
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}
