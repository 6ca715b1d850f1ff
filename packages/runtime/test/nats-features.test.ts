import { describe, expect, it } from 'vitest';
import { compareVersions, featuresOf } from '../src/nats.ts';

describe('server version gates', () => {
  it('orders versions numerically', () => {
    expect(compareVersions('2.10.27', '2.10.0')).toBe(1);
    expect(compareVersions('2.9.10', '2.10.0')).toBe(-1);
    expect(compareVersions('2.11.0-beta.1', '2.11.0')).toBe(0);
  });

  it('treats term reasons and TTLs as unavailable below 2.11', () => {
    expect(featuresOf('2.10.27')).toMatchObject({
      termWithReason: false,
      messageTtl: false,
      kvMarkerTtl: false,
    });
    expect(featuresOf('2.11.1')).toMatchObject({ termWithReason: true, messageTtl: true, kvMarkerTtl: true });
  });
});
