import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** The seed simulator's log record shape (`LogRecords.txt`): `{timestamp, level, message}` plus details. */
export interface DeviceLogEntry {
  timestamp: string;
  level: 'LOG' | 'WARN' | 'ERR';
  message: string;
  [detail: string]: unknown;
}

export const MAX_LOG_ENTRIES = 1_000;

/**
 * A gateway's persistent log: a pretty-printed JSON array in one file, as the seed keeps it. Every
 * change rewrites the file through a temporary one (a crash never leaves half an array); changes and
 * snapshots run one at a time. Only the newest `maxEntries` are kept.
 */
export class DeviceLogFile {
  readonly path: string;
  readonly #maxEntries: number;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(file: string, maxEntries = MAX_LOG_ENTRIES) {
    this.path = file;
    this.#maxEntries = maxEntries;
  }

  append(entry: DeviceLogEntry): Promise<void> {
    return this.#serial(async () => {
      const entries = [...(await this.#read()), entry].slice(-this.#maxEntries);
      await fs.mkdir(path.dirname(this.path), { recursive: true });
      const tmp = `${this.path}.${randomBytes(4).toString('hex')}.tmp`;
      await fs.writeFile(tmp, `${JSON.stringify(entries, null, 2)}\n`);
      await fs.rename(tmp, this.path);
    });
  }

  read(): Promise<DeviceLogEntry[]> {
    return this.#serial(() => this.#read());
  }

  /** A copy of the log as it is now, in the temp folder (`[]` when nothing was logged); the caller deletes it. */
  snapshot(): Promise<string> {
    return this.#serial(async () => {
      const copy = path.join(
        os.tmpdir(),
        `fw-sim-${path.basename(this.path, '.json')}-${randomBytes(4).toString('hex')}.json`,
      );
      await fs.copyFile(this.path, copy).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        await fs.writeFile(copy, '[]\n');
      });
      return copy;
    });
  }

  async #read(): Promise<DeviceLogEntry[]> {
    try {
      const parsed: unknown = JSON.parse(await fs.readFile(this.path, 'utf8'));
      return Array.isArray(parsed) ? (parsed as DeviceLogEntry[]) : [];
    } catch (err) {
      // A missing file is an empty log; an unreadable one is started afresh rather than failing commands.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof SyntaxError) return [];
      throw err;
    }
  }

  #serial<T>(job: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(job, job);
    this.#queue = next.catch(() => {});
    return next;
  }
}
