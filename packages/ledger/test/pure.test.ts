import type { DeviceId, TenantId } from '@fleetwire/protocol';
import { describe, expect, it } from 'vitest';
import { type CommandView, stateChangeMsgId, toStateChange } from '../src/command-view.ts';
import { normaliseCreate } from '../src/create-input.ts';
import { decodeCursor, encodeCursor } from '../src/cursor.ts';
import { LedgerError } from '../src/errors.ts';
import { canonicalJson, requestHash } from '../src/request-hash.ts';

const base = { tenant: 'default' as TenantId, deviceId: '356307042441013' as DeviceId, name: 'codec12' };

describe('request normalisation and hashing', () => {
  it('hashes equal requests equally whatever the key order, and applies defaults first', () => {
    const a = normaliseCreate({ ...base, args: { text: 'getver', x: { b: 1, a: 2 } }, metadata: { job: 1 } });
    const b = normaliseCreate({
      ...base,
      metadata: { job: 1 },
      args: { x: { a: 2, b: 1 }, text: 'getver' },
      maxAttempts: 3,
    });
    expect(requestHash(a)).toBe(requestHash(b));
    expect(requestHash(normaliseCreate({ ...base, metadata: { job: 2 } }))).not.toBe(requestHash(a));
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: undefined }] })).toBe('{"a":[{"d":1}],"b":1}');
  });

  it.each([
    [{ name: 'bad name' }, /name/],
    [{ maxAttempts: 0 }, /maxAttempts/],
    [{ attemptTimeoutMs: 50 }, /attemptTimeoutMs/],
    [{ metadata: [] as never }, /metadata/],
    [{ command: 'x'.repeat(4097) }, /command/],
    [{ metadata: { ['k'.repeat(257)]: 1 } }, /metadata/],
    [{ deviceId: 'a.b' as DeviceId }, /deviceId/],
  ])('rejects %o', (patch, message) => {
    expect(() => normaliseCreate({ ...base, ...patch })).toThrow(message);
    expect(() => normaliseCreate({ ...base, ...patch })).toThrow(LedgerError);
  });
});

describe('cursors', () => {
  it('round-trips PostgreSQL timestamps with microseconds and rejects anything else', () => {
    const key = { createdAt: '2026-01-02 03:04:05.123456+00', id: 'abc' };
    expect(decodeCursor(encodeCursor(key))).toEqual(key);
    expect(() => decodeCursor('nonsense')).toThrow(LedgerError);
    expect(() => decodeCursor(Buffer.from('["x","y"]').toString('base64url'))).toThrow(/cursor/);
  });
});

describe('state events', () => {
  const view: CommandView = {
    id: 'c1' as never,
    tenant: 'default' as TenantId,
    deviceId: '1' as DeviceId,
    name: 'codec12',
    args: { text: 'getver' },
    command: 'getver',
    metadata: { job: { nested: [1, 2] } },
    state: 'completed',
    attempts: 2,
    maxAttempts: 3,
    attemptTimeoutMs: 1000,
    expiresAt: '2026-01-01T00:00:00.000Z',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:01.000Z',
    sentAt: null,
    finishedAt: null,
    response: 'Ver:1',
    error: null,
    idempotencyKey: null,
  };

  it('carries name, text, attempt, response and the metadata untouched; dedup id per state and attempt', () => {
    expect(toStateChange(view)).toEqual({
      tenant: 'default',
      deviceId: '1',
      commandId: 'c1',
      state: 'completed',
      at: Date.parse('2026-01-01T00:00:01.000Z'),
      name: 'codec12',
      command: 'getver',
      attempt: 2,
      response: 'Ver:1',
      metadata: { job: { nested: [1, 2] } },
    });
    expect(stateChangeMsgId(view)).toBe('c1:completed:2');
    expect(toStateChange({ ...view, state: 'queued', attempts: 0, response: null }).attempt).toBeUndefined();
  });
});
