import { between, type Random } from '../random.ts';

/** One telemetry sample of a gateway: named values, as the `attributes` of a telemetry record. */
export interface GatewaySample {
  cpuLoadPct: number;
  memoryUsedPct: number;
  temperatureC: number;
  /** HC-SR04 ultrasonic distance sensor (the seed's ESP32 variant): 2-400 cm. */
  distanceCm: number;
  rssiDbm: number;
  uptimeS: number;
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, n));

/**
 * A small Linux gateway's vital signs: CPU load random-walks back towards a base load with
 * occasional bursts, the SoC temperature follows the load with lag, memory creeps and is released,
 * and the distance sensor sees a steady wall with something passing in front of it now and then.
 */
export class GatewaySensors {
  readonly #random: Random;
  #cpu: number;
  #memory: number;
  #temperature: number;
  #wallCm: number;
  #objectCm: number | undefined;

  constructor(random: Random) {
    this.#random = random;
    this.#cpu = between(random, 8, 25);
    this.#memory = between(random, 30, 45);
    this.#temperature = 42 + this.#cpu * 0.25;
    this.#wallCm = between(random, 120, 380);
  }

  /** The next sample; `bootedAt` is when the gateway last (re)booted. */
  sample(now: number, bootedAt: number): GatewaySample {
    const r = this.#random;
    const burst = r() < 0.05 ? between(r, 30, 60) : 0;
    this.#cpu = clamp(this.#cpu + (18 - this.#cpu) * 0.3 + between(r, -6, 6) + burst, 1, 100);
    this.#memory = r() < 0.02 ? this.#memory - 10 : this.#memory + between(r, -0.5, 1);
    this.#memory = clamp(this.#memory, 20, 92);
    // The SoC warms towards 40 °C + 0.35 °C per % of load, a fifth of the way per sample.
    this.#temperature += (40 + this.#cpu * 0.35 - this.#temperature) * 0.2 + between(r, -0.3, 0.3);
    if (this.#objectCm === undefined && r() < 0.08) this.#objectCm = between(r, 5, this.#wallCm - 10);
    else if (this.#objectCm !== undefined && r() < 0.3) this.#objectCm = undefined;
    const distance = (this.#objectCm ?? this.#wallCm) + between(r, -1.5, 1.5);
    return {
      cpuLoadPct: round1(this.#cpu),
      memoryUsedPct: round1(this.#memory),
      temperatureC: round1(this.#temperature),
      distanceCm: round1(clamp(distance, 2, 400)),
      rssiDbm: Math.round(between(r, -78, -52)),
      uptimeS: Math.max(0, Math.floor((now - bootedAt) / 1000)),
    };
  }
}
