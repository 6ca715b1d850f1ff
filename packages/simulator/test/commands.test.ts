import { expectedResponse, responseFits } from '@fleetwire/ledger';
import { describe, expect, it } from 'vitest';
import { answerCommand, type TrackerFacts } from '../src/tracker/commands.ts';

function facts(outputs = [0, 0]): TrackerFacts {
  return {
    imei: '356307042441013',
    bootedAt: Date.UTC(2026, 0, 2, 3, 4, 5),
    now: Date.UTC(2026, 0, 2, 4, 5, 6),
    outputs,
    vehicle: {
      position: { lat: 54.6872, lon: 25.2797 },
      altitude: 112,
      heading: 77,
      speedKmh: 42,
      satellites: 9,
      ignition: true,
      odometerM: 123_456,
      gsmSignal: 4,
      externalVoltageMv: 13_900,
      batteryVoltageMv: 4_100,
      batteryLevel: 95,
      pdop: 12,
      hdop: 8,
    },
  };
}

describe('Codec 12 answers', () => {
  it.each(['getinfo', 'getver', 'getstatus', 'getgps', 'getio'])(
    '%s is answered in the format the ledger matches',
    (command) => {
      const { answer } = answerCommand(command, facts());
      expect(expectedResponse(command)).toBeDefined();
      expect(responseFits(command, answer)).toBe(true);
    },
  );

  it('answers with the device facts', () => {
    const f = facts();
    expect(answerCommand('getver', f).answer).toMatch(/^Ver:\S+ .*IMEI:356307042441013 .*Uptime:3661 /);
    expect(answerCommand('getinfo', f).answer).toMatch(/^INI:2026\/1\/2 3:04 RTC:2026\/1\/2 4:05 .*SAT:9/);
    expect(answerCommand('getgps', f).answer).toBe(
      'GPS:1 Sat:9 Lat:54.687200 Long:25.279700 Alt:112 Speed:42 Dir:77 Date:2026/1/2 Time:4:05:06',
    );
    expect(answerCommand('getstatus', f).answer).toMatch(/^Data Link: 1 GPRS: 1 .*Signal: 4/);
    expect(answerCommand('  GETVER ', f).answer).toMatch(/^Ver:/);
  });

  it('keeps digital output state: set, already set, ignored, cleared', () => {
    const f = facts();
    const say = (text: string) => {
      const { answer } = answerCommand(text, f);
      expect(responseFits(text, answer)).toBe(true);
      return answer;
    };
    expect(say('setdigout 1')).toBe('DOUT1:1');
    expect(f.outputs[0]).toBe(1);
    expect(say('setdigout 1')).toBe('DOUT1:Already set to 1');
    expect(say('setdigout 1?')).toBe('DOUT1:Already set to 1 DOUT2:Already set to 0');
    expect(say('setdigout 0?')).toBe('DOUT1:0 DOUT2:Already set to 0');
    expect(say('setdigout 0')).toBe('DOUT1:Already set to 0');
    expect(say('setdigout ?1')).toBe('DOUT1:Already set to 0 DOUT2:1');
    expect(f.outputs).toEqual([0, 1]);
    expect(answerCommand('getio', f).answer).toContain('DO1:0 DO2:1');
    expect(answerCommand('setdigout x', f).answer).toBe('Wrong command arguments');
  });

  it('answers cpureset and asks for a reboot; anything else is an unknown command', () => {
    expect(answerCommand('cpureset', facts())).toEqual({ answer: 'Rebooting', reboot: true });
    expect(answerCommand('frobnicate 3', facts())).toEqual({ answer: 'Unknown command' });
    expect(answerCommand('', facts())).toEqual({ answer: 'Unknown command' });
  });
});
