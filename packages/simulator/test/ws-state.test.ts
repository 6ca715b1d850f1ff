import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CREDENTIALS_FILE, CredentialStore } from '../src/ws/credentials.ts';
import { DeviceLogFile } from '../src/ws/device-log.ts';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-sim-state-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('gateway credentials', () => {
  it('survive a restart of the fleet through the state folder, readable only by the owner', () => {
    const store = CredentialStore.open(dir);
    store.set('gw-a', 'fwd_a');
    store.set('gw-b', 'fwd_b');
    store.delete('gw-b');
    store.flush();
    const file = path.join(dir, CREDENTIALS_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const again = CredentialStore.open(dir);
    expect(again.get('gw-a')).toBe('fwd_a');
    expect(again.get('gw-b')).toBeUndefined();
    expect(again.size).toBe(1);
  });

  it('without a folder, live in memory only', () => {
    const store = CredentialStore.open(undefined);
    store.set('gw-a', 'fwd_a');
    store.flush();
    expect(store.get('gw-a')).toBe('fwd_a');
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('the gateway JSON log', () => {
  it('appends entries to a JSON array, keeping the newest, and never leaves a partial file', async () => {
    const log = new DeviceLogFile(path.join(dir, 'logs', 'gw-a.json'), 3);
    await Promise.all(
      [1, 2, 3, 4].map((n) =>
        log.append({ timestamp: new Date(n).toISOString(), level: 'LOG', message: `m${n}` }),
      ),
    );
    const stored = JSON.parse(fs.readFileSync(log.path, 'utf8'));
    expect(stored.map((e: { message: string }) => e.message)).toEqual(['m2', 'm3', 'm4']);
    expect(fs.readdirSync(path.dirname(log.path))).toEqual(['gw-a.json']);
  });

  it('snapshots into a temp copy (an empty array before anything was logged)', async () => {
    const log = new DeviceLogFile(path.join(dir, 'gw-b.json'));
    const empty = await log.snapshot();
    expect(JSON.parse(fs.readFileSync(empty, 'utf8'))).toEqual([]);
    await log.append({ timestamp: 't', level: 'WARN', message: 'w', items: { a: 1 } });
    const copy = await log.snapshot();
    expect(copy).not.toBe(log.path);
    expect(JSON.parse(fs.readFileSync(copy, 'utf8'))).toEqual([
      { timestamp: 't', level: 'WARN', message: 'w', items: { a: 1 } },
    ]);
    fs.rmSync(empty);
    fs.rmSync(copy);
  });

  it('starts afresh over an unreadable file instead of failing', async () => {
    const file = path.join(dir, 'gw-c.json');
    fs.writeFileSync(file, '[{"half');
    const log = new DeviceLogFile(file);
    await log.append({ timestamp: 't', level: 'LOG', message: 'after' });
    expect(await log.read()).toEqual([{ timestamp: 't', level: 'LOG', message: 'after' }]);
  });
});
