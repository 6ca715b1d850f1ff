import { createHash } from 'node:crypto';
import { objectChunkSubject, objectStoreStreamName } from '@fleetwire/protocol';
import type { JetStreamManager } from '@nats-io/jetstream';

export interface StoredObject {
  bucket: string;
  /** The object's nuid: its chunks are on `$O.<bucket>.C.<nuid>`. */
  nuid: string;
  size: number;
  /** Hex SHA-256 the bytes must have (the one recorded at upload). */
  sha256: string;
}

/**
 * The object's bytes, one chunk per direct get, each asked for only when the previous one was
 * consumed. The client's `ObjectStore.get()` pushes every chunk into an unbounded stream as fast as
 * the server sends them, so a slow HTTP download would hold the whole file in memory; this does not.
 * Throws when the object vanished midway or its bytes are not the ones recorded.
 */
export async function* objectChunks(jsm: JetStreamManager, object: StoredObject): AsyncGenerator<Uint8Array> {
  const stream = objectStoreStreamName(object.bucket);
  const subject = objectChunkSubject(object.bucket, object.nuid);
  const hash = createHash('sha256');
  let received = 0;
  let seq = 0;
  while (received < object.size) {
    const msg = await jsm.direct.getMessage(stream, { next_by_subj: subject, seq: seq + 1 });
    if (!msg) throw new Error(`object ${object.nuid} lost chunks after ${received} of ${object.size} bytes`);
    seq = msg.seq;
    received += msg.data.length;
    hash.update(msg.data);
    yield msg.data;
  }
  const digest = hash.digest('hex');
  if (received !== object.size || digest !== object.sha256) {
    throw new Error(`object ${object.nuid} is corrupt: ${received} bytes with SHA-256 ${digest}`);
  }
}
