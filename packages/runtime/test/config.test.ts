import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, env, loadConfig, parseDuration } from '../src/config.ts';

const spec = {
  port: env.port('X_PORT', { default: 8080 }),
  url: env.url('X_URL', { protocols: ['nats:'] }),
  level: env.oneOf('X_LEVEL', ['a', 'b'] as const, { default: 'a' }),
  secret: env.string('X_SECRET', { optional: true, secret: true }),
  timeout: env.duration('X_TIMEOUT', { default: 1000 }),
  flag: env.bool('X_FLAG', { default: false }),
};

describe('loadConfig', () => {
  it('applies defaults and parses values', () => {
    const cfg = loadConfig(spec, { X_URL: 'nats://h:4222', X_TIMEOUT: '2m', X_FLAG: 'yes' });
    expect(cfg).toEqual({
      port: 8080,
      url: 'nats://h:4222',
      level: 'a',
      secret: undefined,
      timeout: 120_000,
      flag: true,
    });
  });

  it('names every missing or malformed variable and what it expects', () => {
    let caught: unknown;
    try {
      loadConfig(spec, { X_PORT: '70000', X_LEVEL: 'c', X_FLAG: 'maybe' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems;
    expect(problems).toEqual([
      'X_PORT is invalid: expected a TCP port number (1-65535), got "70000"',
      'X_URL is required: expected a URL (nats://…)',
      'X_LEVEL is invalid: expected one of a, b, got "c"',
      'X_FLAG is invalid: expected true or false, got "maybe"',
    ]);
  });

  it('never echoes a secret value', () => {
    const secretSpec = { pw: env.string('X_PW', { secret: true, pattern: /^.{12,}$/ }) };
    expect(() => loadConfig(secretSpec, { X_PW: 'short' })).toThrow(/X_PW is invalid: .* got \(hidden\)/);
  });

  it('rejects a URL of the wrong scheme', () => {
    expect(() => loadConfig(spec, { X_URL: 'http://h' })).toThrow(/X_URL is invalid/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['250', 250],
    ['250ms', 250],
    ['5s', 5000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
  ])('%s → %d ms', (raw, ms) => expect(parseDuration(raw)).toBe(ms));

  it.each(['', 's', '5x', '-1s', '1 s'])('rejects %j', (raw) => expect(() => parseDuration(raw)).toThrow());
});

describe('describeConfig', () => {
  it('documents each variable with its default', () => {
    const md = describeConfig(spec);
    expect(md).toContain('| `X_PORT` | a TCP port number (1-65535) | `8080` |');
    expect(md).toContain('| `X_URL` | a URL (nats://…) | **required** |');
    expect(md).toContain('| `X_SECRET` | a non-empty string | (secret) |');
  });
});
