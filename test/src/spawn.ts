import { type ChildProcess, spawn } from 'node:child_process';
import { NODE } from './tools.ts';

export interface SpawnedService {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when a line containing `text` has been printed. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): void;
}

/** Runs a TypeScript entry point as its own process with exactly the given environment. */
export function spawnService(entry: string, env: NodeJS.ProcessEnv): SpawnedService {
  const child = spawn(NODE, ['--disable-warning=ExperimentalWarning', entry], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of waiters) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output: () => out,
    exited,
    kill: (signal = 'SIGTERM') => void child.kill(signal),
    waitFor(text, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const matches = () => (typeof text === 'string' ? out.includes(text) : text.test(out));
        const check = () => {
          if (!matches()) return;
          cleanup();
          resolve(out);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${text}; output so far:\n${out}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        void exited.then(() => {
          if (!matches()) {
            cleanup();
            reject(new Error(`process exited before printing ${text}; output:\n${out}`));
          }
        });
        check();
      });
    },
  };
}
