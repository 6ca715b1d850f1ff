import { Readable } from 'node:stream';
import { parseDeviceId, parseTenantId } from '@fleetwire/protocol';
import { type Logger, newId, type Sql } from '@fleetwire/runtime';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { type ObjectStore, Objm } from '@nats-io/obj';
import { DEVICE_LOG_ERROR, DeviceLogError, LogTooLargeError, UnknownDeviceError } from './errors.ts';
import { type DeviceLog, LogIndex, type LogPage, publicView } from './log-index.ts';
import { type LogSource, MeteredSource } from './metered-source.ts';
import { objectChunks } from './object-chunks.ts';

export interface StoreLogInput {
  tenant: string;
  deviceId: string;
  /** As the device named it; reduced to a plain file name (no path, no control characters). */
  fileName: string;
  /** Kept when it looks like `type/subtype[; params]`, else application/octet-stream. */
  contentType: string;
  stream: LogSource;
  /** Past this many bytes the upload is refused with LogTooLargeError and nothing is kept. */
  maxBytes: number;
}

export interface StoredLog {
  logId: string;
  sizeBytes: number;
  /** Hex SHA-256 of the bytes. */
  sha256: string;
  createdAt: string;
}

export interface OpenedLog {
  meta: DeviceLog;
  /** The bytes, read from the object store as the consumer reads them; errors if they are corrupt. */
  stream: Readable;
}

export interface DeviceLogStoreOptions {
  sql: Sql;
  js: JetStreamClient;
  /** The object store bucket (`jetStreamTopology().objectStores.deviceLogs.bucket`), already provisioned. */
  bucket: string;
  /** The bucket's TTL: older rows are hidden, their bytes are gone. */
  retentionMs?: number;
  log?: Logger;
}

const FOREIGN_KEY_VIOLATION = '23503';
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
const CONTENT_TYPE = /^[A-Za-z0-9!#$&^_.+-]{1,127}\/[A-Za-z0-9!#$&^_.+-]{1,127}(\s*;[\x20-\x7e]*)?$/;

export const objectNameOf = (tenant: string, deviceId: string, logId: string) =>
  `${tenant}/${deviceId}/${logId}`;

/** The last path segment, without control characters, at most 255 characters; `log` if nothing is left. */
export function cleanFileName(name: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  const base = (name.split(/[/\\]/).at(-1) ?? '').replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return base.slice(0, 255) || 'log';
}

export function cleanContentType(type: string): string {
  const trimmed = type.trim();
  return trimmed.length <= 255 && CONTENT_TYPE.test(trimmed) ? trimmed : DEFAULT_CONTENT_TYPE;
}

/**
 * Device log uploads: the bytes in the NATS object store (object `<tenant>/<device>/<logId>`), the
 * index in PostgreSQL (`device_logs`). A row exists only for a complete object, so a listed log can
 * always be downloaded (until the bucket's TTL removes it).
 */
export class DeviceLogStore {
  readonly #index: LogIndex;
  readonly #os: ObjectStore;
  readonly #jsm: JetStreamManager;
  readonly #bucket: string;
  readonly #log: Logger | undefined;

  private constructor(index: LogIndex, os: ObjectStore, jsm: JetStreamManager, o: DeviceLogStoreOptions) {
    this.#index = index;
    this.#os = os;
    this.#jsm = jsm;
    this.#bucket = o.bucket;
    this.#log = o.log;
  }

  /** Opens the (provisioned) bucket; fails when it does not exist. */
  static async open(options: DeviceLogStoreOptions): Promise<DeviceLogStore> {
    const os = await new Objm(options.js).open(options.bucket);
    const jsm = await options.js.jetstreamManager();
    return new DeviceLogStore(new LogIndex(options.sql, options.retentionMs), os, jsm, options);
  }

  /**
   * Streams the upload into the object store, then indexes it. Unknown device: UnknownDeviceError
   * before a byte is read. Past `maxBytes`: LogTooLargeError, the chunks written so far are purged
   * and no row is stored. Any other failure leaves nothing behind either.
   */
  async store(input: StoreLogInput): Promise<StoredLog> {
    const tenant = parseTenantId(input.tenant);
    const deviceId = parseDeviceId(input.deviceId);
    if (!Number.isSafeInteger(input.maxBytes) || input.maxBytes < 0) {
      throw new DeviceLogError(DEVICE_LOG_ERROR.INVALID_INPUT, 'maxBytes must be a non-negative integer');
    }
    if (!(await this.#index.deviceExists(tenant, deviceId))) throw new UnknownDeviceError(tenant, deviceId);

    const logId = newId('log');
    const objectName = objectNameOf(tenant, deviceId, logId);
    const log = this.#log?.child({ deviceId, logId });
    const source = new MeteredSource(input.stream, input.maxBytes);
    try {
      await this.#os.put({ name: objectName }, source.readable);
    } catch (err) {
      // The client purged the chunks it wrote; LogTooLargeError even if that purge failed.
      if (source.tooLarge) {
        log?.info({ maxBytes: input.maxBytes }, 'device log refused: too large');
        throw new LogTooLargeError(input.maxBytes);
      }
      throw err;
    }
    const uploaded = {
      tenant,
      id: logId,
      deviceId,
      fileName: cleanFileName(input.fileName),
      contentType: cleanContentType(input.contentType),
      sizeBytes: source.size,
      sha256: source.sha256(),
      objectName,
    };
    const createdAt = await this.#index.insert(uploaded).catch(async (err: unknown) => {
      await this.#deleteObject(objectName, log);
      if ((err as { code?: string }).code === FOREIGN_KEY_VIOLATION)
        throw new UnknownDeviceError(tenant, deviceId);
      throw err;
    });
    log?.info({ sizeBytes: uploaded.sizeBytes, fileName: uploaded.fileName }, 'device log stored');
    return { logId, sizeBytes: uploaded.sizeBytes, sha256: uploaded.sha256, createdAt };
  }

  /** Newest first; `cursor` is the previous page's `nextCursor` (InvalidCursorError otherwise). */
  async list(tenant: string, deviceId: string, page: { limit: number; cursor?: string }): Promise<LogPage> {
    if (!Number.isSafeInteger(page.limit) || page.limit < 1) {
      throw new DeviceLogError(DEVICE_LOG_ERROR.INVALID_INPUT, 'limit must be a positive integer');
    }
    return this.#index.list(tenant, deviceId, page);
  }

  /** The log and a stream of its bytes; undefined when there is no such log (or its bytes expired). */
  async open(tenant: string, deviceId: string, logId: string): Promise<OpenedLog | undefined> {
    const row = await this.#index.get(tenant, deviceId, logId);
    if (!row) return undefined;
    const info = await this.#os.info(row.objectName);
    if (!info || info.deleted) return undefined;
    const chunks = objectChunks(this.#jsm, {
      bucket: this.#bucket,
      nuid: info.nuid,
      size: row.sizeBytes,
      sha256: row.sha256,
    });
    // Byte mode with the default high-water mark: at most one chunk is read ahead of the consumer.
    return { meta: publicView(row), stream: Readable.from(chunks, { objectMode: false }) };
  }

  /** False when there is no such log. */
  async delete(tenant: string, deviceId: string, logId: string): Promise<boolean> {
    const names = await this.#index.delete(tenant, deviceId, logId);
    for (const name of names) await this.#deleteObject(name, this.#log?.child({ deviceId, logId }));
    return names.length > 0;
  }

  /** Every log of the device (before the device itself is deleted); returns how many. */
  async deleteAllOf(tenant: string, deviceId: string): Promise<number> {
    const names = await this.#index.delete(tenant, deviceId);
    const log = this.#log?.child({ deviceId });
    for (const name of names) await this.#deleteObject(name, log);
    return names.length;
  }

  /**
   * Removes the index rows of logs older than the retention, `batchSize` at a time, and returns how
   * many. The bucket's TTL has removed their bytes already (any left are deleted too); without this
   * the hidden rows would stay forever.
   */
  async pruneExpired(batchSize = 1_000): Promise<number> {
    let pruned = 0;
    for (;;) {
      const names = await this.#index.deleteExpired(batchSize);
      for (const name of names) await this.#deleteObject(name, this.#log);
      pruned += names.length;
      if (names.length < batchSize) return pruned;
    }
  }

  /** Rows go first: bytes whose delete failed are only orphans, and the bucket's TTL removes them. */
  async #deleteObject(name: string, log: Logger | undefined): Promise<void> {
    try {
      await this.#os.delete(name);
    } catch (err) {
      log?.warn({ err, object: name }, 'device log bytes not deleted; the bucket TTL will remove them');
    }
  }
}
