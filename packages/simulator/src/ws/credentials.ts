import fs from 'node:fs';
import path from 'node:path';

export const CREDENTIALS_FILE = 'ws-credentials.json';

/** Coalesces the writes of a fleet provisioning itself: thousands of new credentials, one file write. */
const WRITE_DELAY_MS = 250;

/**
 * Device credentials the fleet got when it provisioned itself with a fleet key, kept in
 * `<state dir>/ws-credentials.json` (mode 0600) so a restarted fleet opens sessions with them
 * instead of trying to provision again. Without a file it only remembers them in memory.
 */
export class CredentialStore {
  readonly file: string | undefined;
  readonly #byDevice: Map<string, string>;
  #timer: NodeJS.Timeout | undefined;

  private constructor(file: string | undefined, byDevice: Map<string, string>) {
    this.file = file;
    this.#byDevice = byDevice;
  }

  /** Reads `<dir>/ws-credentials.json` if it exists; `undefined` keeps credentials in memory only. */
  static open(dir: string | undefined): CredentialStore {
    if (dir === undefined) return new CredentialStore(undefined, new Map());
    const file = path.join(dir, CREDENTIALS_FILE);
    let stored: Record<string, string> = {};
    if (fs.existsSync(file)) stored = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>;
    return new CredentialStore(file, new Map(Object.entries(stored)));
  }

  get size(): number {
    return this.#byDevice.size;
  }

  get(deviceId: string): string | undefined {
    return this.#byDevice.get(deviceId);
  }

  set(deviceId: string, credential: string): void {
    this.#byDevice.set(deviceId, credential);
    this.#scheduleWrite();
  }

  delete(deviceId: string): void {
    if (this.#byDevice.delete(deviceId)) this.#scheduleWrite();
  }

  /** Writes pending changes now (call before exiting). */
  flush(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#write();
  }

  #scheduleWrite(): void {
    if (this.file === undefined || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#write();
    }, WRITE_DELAY_MS);
  }

  #write(): void {
    const file = this.file!;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(Object.fromEntries(this.#byDevice), null, 1), {
      mode: 0o600,
    });
    fs.renameSync(`${file}.tmp`, file);
  }
}
