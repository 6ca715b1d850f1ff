import type { VehicleSnapshot } from './vehicle.ts';

/** What a tracker knows about itself when it answers a command. */
export interface TrackerFacts {
  imei: string;
  bootedAt: number;
  now: number;
  vehicle: VehicleSnapshot;
  /** DOUT1, DOUT2, … as 0/1; setdigout changes it in place. */
  outputs: number[];
}

export interface CommandOutcome {
  answer: string;
  /** cpureset: the tracker answers, then drops the connection and comes back like after a reboot. */
  reboot?: true;
}

export const FIRMWARE_VERSION = '03.29.00_05';
export const HARDWARE = 'FMB920';

type Handler = (facts: TrackerFacts, args: string) => CommandOutcome;

/**
 * The Codec 12 SMS/GPRS commands an FMB tracker answers, in the answer formats of real devices
 * (and of packages/ledger/src/response-matching.ts, which matches answers to commands by them).
 */
const HANDLERS: Readonly<Record<string, Handler>> = {
  getinfo: (f) => ({
    answer:
      `INI:${teltonikaDate(f.bootedAt)} RTC:${teltonikaDate(f.now)} RST:0 ERR:0 SR:0 BR:0 CF:0 FG:0 FL:0 ` +
      `TU:0/0 UT:0 SMS:0 NOGPS:0:0 GPS:1 SAT:${f.vehicle.satellites} RS:3 RF:0 SF:1 MD:${f.vehicle.speedKmh > 0 ? 1 : 0}`,
  }),
  getver: (f) => ({
    answer:
      `Ver:${FIRMWARE_VERSION} GPS:AXN_5.10_3333 Hw:${HARDWARE} Mod:10 IMEI:${f.imei} ` +
      `Init:${teltonikaDate(f.bootedAt)} Uptime:${Math.floor((f.now - f.bootedAt) / 1000)} ` +
      `MAC:${macFor(f.imei)} SPC:1(0) AXL:1 OBD:0 BL:1.10 BT:4`,
  }),
  getstatus: (f) => ({
    answer:
      `Data Link: 1 GPRS: 1 Phone: 0 SIM: 0 OP: 24602 Signal: ${f.vehicle.gsmSignal} NewSMS: 0 ` +
      `Roaming: 0 SMSFull: 0 LAC: 1 Cell ID: 3055 NetType: 1 FwUpd:-1`,
  }),
  getgps: (f) => {
    const v = f.vehicle;
    const at = new Date(f.now);
    return {
      answer:
        `GPS:1 Sat:${v.satellites} Lat:${v.position.lat.toFixed(6)} Long:${v.position.lon.toFixed(6)} ` +
        `Alt:${v.altitude} Speed:${v.speedKmh} Dir:${v.heading} ` +
        `Date:${at.getUTCFullYear()}/${at.getUTCMonth() + 1}/${at.getUTCDate()} ` +
        `Time:${at.getUTCHours()}:${pad2(at.getUTCMinutes())}:${pad2(at.getUTCSeconds())}`,
    };
  },
  getio: (f) => ({
    answer: `DI1:${f.vehicle.ignition ? 1 : 0} DI2:0 DI3:0 AIN1:0 AIN2:0 DO1:${f.outputs[0] ?? 0} DO2:${f.outputs[1] ?? 0}`,
  }),
  setdigout: setDigitalOutputs,
  cpureset: () => ({ answer: 'Rebooting', reboot: true }),
};

const UNKNOWN: CommandOutcome = { answer: 'Unknown command' };

/** The tracker's answer to one Codec 12 command text. Commands are matched case-insensitively. */
export function answerCommand(text: string, facts: TrackerFacts): CommandOutcome {
  const [name = '', ...rest] = text.trim().split(/\s+/);
  const handler = HANDLERS[name.toLowerCase()];
  return handler ? handler(facts, rest.join(' ')) : UNKNOWN;
}

/**
 * `setdigout 1`, `setdigout 0?`, `setdigout 10 60` …: one character per output (1 on, 0 off,
 * ? leave alone), an optional timeout that this simulation ignores. Reports each output the way
 * FMB firmware does, saying "Already set" when nothing changed.
 */
function setDigitalOutputs(facts: TrackerFacts, args: string): CommandOutcome {
  const wanted = /^([01?]{1,4})(?:\s|$)/.exec(args)?.[1];
  if (!wanted) return { answer: 'Wrong command arguments' };
  const parts = [...wanted].map((value, i) => {
    const name = `DOUT${i + 1}`;
    // "?" leaves the output alone; it is reported as already at its current value, the form the ledger matches.
    const requested = value === '?' ? (facts.outputs[i] ?? 0) : Number(value);
    if (facts.outputs[i] === requested) return `${name}:Already set to ${requested}`;
    facts.outputs[i] = requested;
    return `${name}:${requested}`;
  });
  return { answer: parts.join(' ') };
}

/** "2019/7/22 7:22", the date format of getinfo. */
function teltonikaDate(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}/${d.getUTCMonth() + 1}/${d.getUTCDate()} ${d.getUTCHours()}:${pad2(d.getUTCMinutes())}`;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** A stable, locally administered MAC derived from the IMEI. */
function macFor(imei: string): string {
  return `02${imei.slice(-10).padStart(10, '0')}`;
}
