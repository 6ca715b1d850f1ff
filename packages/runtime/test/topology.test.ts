import { jetStreamTopology } from '@fleetwire/protocol';
import { describe, expect, it } from 'vitest';
import { provisioningFor } from '../src/topology.ts';

const DAY_MS = 86_400_000;

describe('provisioningFor', () => {
  const topology = jetStreamTopology({ root: 'fw', deviceLogTtlMs: 2 * DAY_MS });

  it('asks for nothing that was not named', () => {
    expect(provisioningFor(topology, {})).toEqual({ streams: [], consumers: [], kv: [], objectStores: [] });
  });

  it('turns named object stores into Objm.create options (TTL in nanoseconds)', () => {
    const what = provisioningFor(topology, { objectStores: ['deviceLogs'], kv: ['presence'] });
    expect(what.objectStores).toEqual([
      {
        bucket: 'FW_device_logs',
        options: {
          description: expect.any(String),
          ttl: 2 * DAY_MS * 1_000_000,
          storage: 'file',
          replicas: 1,
        },
      },
    ]);
    expect(what.kv?.map((k) => k.bucket)).toEqual(['FW_presence']);
  });
});
