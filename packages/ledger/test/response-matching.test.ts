import { describe, expect, it } from 'vitest';
import { expectedResponse, matchResponse, responseFits } from '../src/response-matching.ts';

const cmd = (id: string, command: string | null) => ({ id, command });

describe('expected responses of known Teltonika commands', () => {
  it.each([
    ['setdigout 1?', 'DOUT1:1 DOUT2:0', true],
    ['setdigout 1', 'DOUT1:Already set to 1', true],
    ['SETDIGOUT  1?', 'DOUT1:0', false],
    ['setdigout 0', 'DOUT1:0', true],
    ['getinfo', 'INI:2019/7/22 7:22 RTC:2019/7/22 7:53', true],
    ['getinfo', 'Ver:03.27.07', false],
    ['getver', 'Ver:03.27.07_04 GPS:AXN_5.10', true],
    ['getstatus', 'Data Link: 1 GPRS: 1 Phone: 0', true],
    ['getstatus', 'DOUT1:1', false],
  ])('%s answered %s fits: %s', (command, response, fits) => {
    expect(responseFits(command, response)).toBe(fits);
  });

  it('knows nothing about custom commands, which accept any answer', () => {
    expect(expectedResponse('my custom thing')).toBeUndefined();
    expect(expectedResponse(null)).toBeUndefined();
    expect(responseFits('my custom thing', 'whatever')).toBe(true);
  });
});

describe('matching an answer to a waiting command (oldest first)', () => {
  const waiting = [cmd('a', 'getver'), cmd('b', 'setdigout 1?'), cmd('c', 'custom'), cmd('d', 'custom 2')];

  it('gives an answer to the known command whose pattern it fits, not to the oldest', () => {
    expect(matchResponse('DOUT1:1', waiting, { validate: true })?.id).toBe('b');
    expect(matchResponse('Ver:1.2', waiting, { validate: true })?.id).toBe('a');
  });

  it('falls back to the oldest custom command for text no known command expects', () => {
    expect(matchResponse('OK', waiting, { validate: true })?.id).toBe('c');
  });

  it('leaves the answer unmatched when only known commands wait and it fits none, unless validation is off', () => {
    const known = [cmd('a', 'getver'), cmd('b', 'setdigout 1?')];
    expect(matchResponse('garbage', known, { validate: true })).toBeUndefined();
    expect(matchResponse('garbage', known, { validate: false })?.id).toBe('a');
  });

  it('prefers the command named by the answer, if the text fits it', () => {
    expect(matchResponse('OK', waiting, { validate: true, commandId: 'd' })?.id).toBe('d');
    expect(matchResponse('Ver:9', waiting, { validate: true, commandId: 'a' })?.id).toBe('a');
  });

  it('does not complete the named command with text that contradicts it when validating', () => {
    const only = [cmd('a', 'getver')];
    expect(matchResponse('DOUT1:1', only, { validate: true, commandId: 'a' })).toBeUndefined();
    expect(matchResponse('DOUT1:1', only, { validate: false, commandId: 'a' })?.id).toBe('a');
  });

  it('matches nothing when nothing waits', () => {
    expect(matchResponse('Ver:1', [], { validate: false })).toBeUndefined();
  });
});
