import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  COMMAND_STATE,
  DEFAULT_TENANT,
  type DeviceId,
  type EdgeId,
  type ParsedSubject,
  parseCommandId,
  parseDeviceId,
  parseTenantId,
  patternCovers,
  SESSION_DIR,
  type SessionId,
  subjectMatches,
  subjects,
  type TenantId,
  UP_KIND,
} from '../src/index.ts';

/**
 * An independent, deliberately naive NATS matcher: `*` matches one token, a final `>` matches one
 * or more. Used to check isolation without trusting the implementation under test.
 */
function natsMatch(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  if (p.at(-1) === '>') {
    return s.length >= p.length && p.slice(0, -1).every((token, i) => token === '*' || token === s[i]);
  }
  return p.length === s.length && p.every((token, i) => token === '*' || token === s[i]);
}

const s = subjects();
const tenantA = parseTenantId('tenant-a');
const tenantB = parseTenantId('tenant_b');
const imei = parseDeviceId('356307042441013');
const uuidDevice = parseDeviceId('0f8fad5b-d9cb-469f-a165-70867728950e');
const sid = 'c3f9a8a4-7e0d-4b8a-9a3e-2f4d5b6c7d8e' as SessionId;
const edge = 'edge-eu-1' as EdgeId;

const safeToken = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);

/** Every concrete subject family for one tenant and device. */
function concreteSubjects(tenant: TenantId, device: DeviceId): [string, ParsedSubject][] {
  return [
    ...Object.values(UP_KIND).map(
      (kind) =>
        [s.up(tenant, device, kind), { type: 'up', tenant, deviceId: device, kind }] as [
          string,
          ParsedSubject,
        ],
    ),
    [s.down(tenant, device), { type: 'down', tenant, deviceId: device }],
    [s.presence(tenant, device), { type: 'presence', tenant, deviceId: device }],
    ...Object.values(COMMAND_STATE).map(
      (state) =>
        [s.cmd(tenant, device, state), { type: 'cmd', tenant, deviceId: device, state }] as [
          string,
          ParsedSubject,
        ],
    ),
    ...Object.values(SESSION_DIR).map(
      (dir) =>
        [s.session(tenant, sid, dir), { type: 'session', tenant, sessionId: sid, dir }] as [
          string,
          ParsedSubject,
        ],
    ),
    [s.notify(tenant, 'device.offline'), { type: 'notify', tenant, eventType: 'device.offline' }],
    [
      s.notifyHeld(tenant, '3f9a0c', 1_763_800_000),
      { type: 'notify-held', tenant, hostKey: '3f9a0c', dueAtSec: 1_763_800_000 },
    ],
    [s.edgeCtl(tenant, edge), { type: 'edge-ctl', tenant, edgeId: edge }],
  ];
}

describe('ids', () => {
  it('accepts IMEIs, serials, UUIDs and the default tenant', () => {
    for (const id of [
      '356307042441013',
      '251306200097',
      '0f8fad5b-d9cb-469f-a165-70867728950e',
      'a_b',
      'x'.repeat(64),
    ]) {
      expect(parseDeviceId(id)).toBe(id);
    }
    expect(parseTenantId(DEFAULT_TENANT)).toBe('default');
  });

  it.each(['', 'a.b', 'a*', 'a>', 'a b', 'tab\t', 'x'.repeat(65), 'ünï', 'a/b', 'a:b'])(
    'rejects %j',
    (id) => {
      expect(() => parseDeviceId(id)).toThrow(expect.objectContaining({ code: 'INVALID_ID' }));
    },
  );

  it('rejects non-strings', () => {
    for (const id of [undefined, null, 42, {}]) {
      expect(() => parseCommandId(id)).toThrow(expect.objectContaining({ code: 'INVALID_ID' }));
    }
  });
});

describe('builders and parse', () => {
  it('builds the documented scheme', () => {
    expect(s.up(tenantA, imei, 'telemetry')).toBe('fw.tenant-a.up.356307042441013.telemetry');
    expect(s.down(tenantA, imei)).toBe('fw.tenant-a.down.356307042441013');
    expect(s.presence(tenantA, imei)).toBe('fw.tenant-a.presence.356307042441013');
    expect(s.cmd(tenantA, imei, 'queued')).toBe('fw.tenant-a.cmd.356307042441013.queued');
    expect(s.session(tenantA, sid, 'to-device')).toBe(`fw.tenant-a.session.${sid}.to-device`);
    expect(s.notify(tenantA, 'alert.raised')).toBe('fw.tenant-a.notify.alert.raised');
    expect(s.edgeCtl(tenantA, edge)).toBe('fw.tenant-a.ctl.edge.edge-eu-1');
  });

  it('builds wildcards for subscriptions and stream filters', () => {
    expect(s.upAll('telemetry')).toBe('fw.*.up.*.telemetry');
    expect(s.upAll()).toBe('fw.*.up.*.*');
    expect(s.upFor(tenantA, 'event')).toBe('fw.tenant-a.up.*.event');
    expect(s.upForDevice(tenantA, imei)).toBe('fw.tenant-a.up.356307042441013.*');
    expect(s.downFor(tenantA)).toBe('fw.tenant-a.down.*');
    expect(s.presenceAll()).toBe('fw.*.presence.*');
    expect(s.presenceFor(tenantA)).toBe('fw.tenant-a.presence.*');
    expect(s.cmdAll()).toBe('fw.*.cmd.*.*');
    expect(s.cmdAll('failed')).toBe('fw.*.cmd.*.failed');
    expect(s.cmdFor(tenantA)).toBe('fw.tenant-a.cmd.*.*');
    expect(s.cmdForDevice(tenantA, imei)).toBe('fw.tenant-a.cmd.356307042441013.*');
    expect(s.sessionFor(tenantA, sid)).toBe(`fw.tenant-a.session.${sid}.*`);
    expect(s.notifyAll()).toBe('fw.*.notify.>');
    expect(s.notifyAll('delivery')).toBe('fw.*.notify.delivery');
    expect(s.notifyAll('device.offline')).toBe('fw.*.notify.device.offline');
    expect(() => s.notifyAll('bad..type')).toThrow(/event type/);
    expect(s.notifyFor(tenantA)).toBe('fw.tenant-a.notify.>');
    expect(s.notifyHeld(tenantA, 'ab12', 1_700_000_000)).toBe('fw.tenant-a.notify.held.ab12.1700000000');
    expect(s.notifyHeldAll()).toBe('fw.*.notify.held.*.*');
    expect(s.notifyHeldAll('ab12')).toBe('fw.*.notify.held.ab12.*');
    expect(s.notifyHeldFor(tenantA)).toBe('fw.tenant-a.notify.held.*.*');
    expect(() => s.notifyHeld(tenantA, 'a.b', 1)).toThrow(/host key/);
    expect(() => s.notifyHeld(tenantA, 'ab12', 1.5)).toThrow(/due time/);
    expect(() => s.notifyHeld(tenantA, 'ab12', -1)).toThrow(/due time/);
    for (const bad of [
      'fw.tenant-a.notify.held.ab12',
      'fw.tenant-a.notify.held.ab12.1e3',
      'fw.tenant-a.notify.held.ab12.',
    ]) {
      expect(() => s.parse(bad)).toThrow(/due time|expected 3 tokens/);
    }
    expect(s.edgeCtlAll(edge)).toBe('fw.*.ctl.edge.edge-eu-1');
    expect(s.tenantAll(tenantA)).toBe('fw.tenant-a.>');
    expect(s.all()).toBe('fw.>');
  });

  it('round-trips every builder through parse', () => {
    for (const device of [imei, uuidDevice]) {
      for (const [subject, parsed] of concreteSubjects(tenantA, device))
        expect(s.parse(subject)).toEqual(parsed);
    }
  });

  it('round-trips random safe ids', () => {
    fc.assert(
      fc.property(safeToken, safeToken, (tenant, device) => {
        for (const [subject, parsed] of concreteSubjects(tenant as TenantId, device as DeviceId)) {
          expect(s.parse(subject)).toEqual(parsed);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses unsafe ids even when the type system is bypassed', () => {
    const unsafe = ['a.b', '*', '>', 'a b', ''];
    for (const bad of unsafe) {
      expect(() => s.up(bad as TenantId, imei, 'telemetry')).toThrow(
        expect.objectContaining({ code: 'INVALID_ID' }),
      );
      expect(() => s.down(tenantA, bad as DeviceId)).toThrow(expect.objectContaining({ code: 'INVALID_ID' }));
      expect(() => s.session(tenantA, bad as SessionId, 'to-device')).toThrow(
        expect.objectContaining({ code: 'INVALID_ID' }),
      );
    }
    expect(() => s.up(tenantA, imei, 'telemetry.x' as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_SUBJECT' }),
    );
    expect(() => s.notify(tenantA, 'a..b')).toThrow(expect.objectContaining({ code: 'INVALID_SUBJECT' }));
  });

  it.each([
    'fw',
    'fw.tenant-a',
    'other.tenant-a.down.dev',
    'fw.tenant-a.down',
    'fw.tenant-a.down.dev.extra',
    'fw.*.down.dev',
    'fw.tenant-a.down.*',
    'fw.tenant-a.up.dev.gps',
    'fw.tenant-a.cmd.dev.lost',
    'fw.tenant-a.session.s1.sideways',
    'fw.tenant-a.ctl.router.e1',
    'fw.tenant-a.notify',
    'fw.tenant-a.notify.a.>',
    'fw.tenant-a.bogus.dev',
    'fw..down.dev',
  ])('parse rejects %j', (subject) => {
    expect(() => s.parse(subject)).toThrow(expect.objectContaining({ code: 'INVALID_SUBJECT' }));
  });

  it('uses a configurable root that must itself be safe', () => {
    const t = subjects({ root: 't1a2' });
    expect(t.up(tenantA, imei, 'log')).toBe('t1a2.tenant-a.up.356307042441013.log');
    expect(() => s.parse(t.down(tenantA, imei))).toThrow(
      expect.objectContaining({ code: 'INVALID_SUBJECT' }),
    );
    for (const root of ['', 'a.b', 'fw.>', '*']) {
      expect(() => subjects({ root })).toThrow(expect.objectContaining({ code: 'INVALID_SUBJECT' }));
    }
  });
});

describe('tenant isolation', () => {
  const tenantWildcards = (tenant: TenantId) => [
    s.upFor(tenant),
    s.upFor(tenant, 'telemetry'),
    s.upForDevice(tenant, imei),
    s.downFor(tenant),
    s.presenceFor(tenant),
    s.cmdFor(tenant),
    s.cmdForDevice(tenant, imei),
    s.sessionFor(tenant, sid),
    s.notifyFor(tenant),
    s.tenantAll(tenant),
  ];

  it('a tenant-A wildcard never matches a tenant-B subject', () => {
    const bSubjects = concreteSubjects(tenantB, imei).map(([subject]) => subject);
    for (const pattern of tenantWildcards(tenantA)) {
      for (const subject of bSubjects)
        expect(natsMatch(pattern, subject), `${pattern} vs ${subject}`).toBe(false);
    }
  });

  it('holds for random tenant pairs, including prefixes of each other', () => {
    fc.assert(
      fc.property(safeToken, safeToken, safeToken, (a, b, device) => {
        fc.pre(a !== b);
        const subjectsOfB = concreteSubjects(b as TenantId, device as DeviceId).map(([subject]) => subject);
        for (const pattern of tenantWildcards(a as TenantId)) {
          for (const subject of subjectsOfB) expect(natsMatch(pattern, subject)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('each tenant wildcard matches its own tenant’s subjects of that family', () => {
    const own = concreteSubjects(tenantA, imei).map(([subject]) => subject);
    for (const pattern of tenantWildcards(tenantA))
      expect(own.some((subject) => natsMatch(pattern, subject))).toBe(true);
    for (const subject of own) expect(natsMatch(s.tenantAll(tenantA), subject)).toBe(true);
  });

  it('roots isolate environments sharing one server', () => {
    const other = subjects({ root: 'fw-test' });
    for (const [subject] of concreteSubjects(tenantA, imei))
      expect(natsMatch(other.all(), subject)).toBe(false);
  });
});

describe('matching helpers', () => {
  const token = fc.constantFrom('a', 'b', 'c');
  const subject = fc.array(token, { minLength: 1, maxLength: 5 }).map((t) => t.join('.'));
  const pattern = fc
    .tuple(fc.array(fc.constantFrom('a', 'b', '*'), { minLength: 1, maxLength: 5 }), fc.boolean())
    .map(([t, tail]) => (tail ? [...t, '>'] : t).join('.'));

  it('subjectMatches agrees with the naive matcher', () => {
    fc.assert(
      fc.property(pattern, subject, (p, x) => {
        expect(subjectMatches(p, x)).toBe(natsMatch(p, x));
      }),
      { numRuns: 5000 },
    );
  });

  it('patternCovers(outer, inner) implies every subject matched by inner is matched by outer', () => {
    fc.assert(
      fc.property(pattern, pattern, subject, (outer, inner, x) => {
        if (patternCovers(outer, inner) && natsMatch(inner, x)) expect(natsMatch(outer, x)).toBe(true);
      }),
      { numRuns: 5000 },
    );
    expect(patternCovers('fw.*.up.*.telemetry', 'fw.t1.up.*.telemetry')).toBe(true);
    expect(patternCovers('fw.*.up.*.telemetry', 'fw.*.up.*.*')).toBe(false);
    expect(patternCovers('fw.*.notify.>', 'fw.t.notify.a.b')).toBe(true);
    expect(patternCovers('fw.*.notify.>', 'fw.t.notify')).toBe(false);
  });
});
