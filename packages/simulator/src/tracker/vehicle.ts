import type { AvlRecord, IoValue } from '@fleetwire/teltonika';
import { between, type Random } from '../random.ts';

export interface GeoPoint {
  lat: number;
  lon: number;
}

/** Vilnius old town: a plausible place for a demo fleet. */
export const DEFAULT_CENTRE: GeoPoint = { lat: 54.6872, lon: 25.2797 };
export const DEFAULT_RADIUS_KM = 10;

export interface VehicleOptions {
  centre: GeoPoint;
  /** The vehicle never leaves this circle around the centre. */
  radiusKm: number;
  random: Random;
}

/** What the vehicle's IO looks like at one moment; exported for Codec 12 answers. */
export interface VehicleSnapshot {
  position: GeoPoint;
  altitude: number;
  heading: number;
  speedKmh: number;
  satellites: number;
  ignition: boolean;
  odometerM: number;
  gsmSignal: number;
  externalVoltageMv: number;
  batteryVoltageMv: number;
  batteryLevel: number;
  pdop: number;
  hdop: number;
}

const EARTH_METRES_PER_DEGREE = 111_320;
const MAX_SPEED_KMH = 90;
const MAX_ACCEL_KMH_PER_S = 10;
const MAX_TURN_DEG_PER_S = 20;
const DEG = Math.PI / 180;

type Phase =
  | { kind: 'driving'; remainingMs: number; cruiseKmh: number }
  | { kind: 'stopped'; remainingMs: number; parked: boolean };

/**
 * A vehicle driving around a centre: smooth random-walk heading, cruise speeds between 20 and
 * 90 km/h with traffic stops (engine on) and parking (ignition off), an odometer, and the voltages,
 * signal and fix quality an FMB tracker reports. Pure: time only moves through step().
 */
export class Vehicle {
  readonly #options: VehicleOptions;
  readonly #random: Random;
  #position: GeoPoint;
  #heading: number;
  #turnRate = 0;
  #speedKmh = 0;
  #altitude: number;
  #satellites: number;
  #odometerM: number;
  #gsmSignal: number;
  #batteryLevel: number;
  #phase: Phase;
  #ignition: boolean;
  #ignitionChanged = false;

  constructor(options: VehicleOptions) {
    this.#options = options;
    const random = options.random;
    this.#random = random;
    // Start somewhere inside the inner half of the circle, so bounds matter only after a while.
    const distanceM = Math.sqrt(random()) * options.radiusKm * 500;
    this.#position = offset(options.centre, distanceM, random() * 360);
    this.#heading = random() * 360;
    this.#altitude = Math.round(between(random, 90, 160));
    this.#satellites = Math.round(between(random, 6, 14));
    this.#odometerM = Math.round(between(random, 5_000_000, 200_000_000));
    this.#gsmSignal = Math.round(between(random, 3, 5));
    this.#batteryLevel = Math.round(between(random, 80, 100));
    this.#ignition = random() < 0.7;
    this.#phase = this.#ignition
      ? { kind: 'driving', remainingMs: between(random, 60_000, 600_000), cruiseKmh: cruise(random) }
      : { kind: 'stopped', remainingMs: between(random, 10_000, 120_000), parked: true };
  }

  get ignition(): boolean {
    return this.#ignition;
  }

  /** Advances the simulation by `ms` milliseconds. */
  step(ms: number): void {
    // Long gaps are taken in one-second steps so turns and bounds behave the same at any interval.
    for (let left = ms; left > 0; left -= 1_000) this.#stepOnce(Math.min(left, 1_000) / 1_000);
  }

  snapshot(): VehicleSnapshot {
    const moving = this.#speedKmh > 0;
    return {
      position: { ...this.#position },
      altitude: this.#altitude,
      heading: Math.round(this.#heading) % 360,
      speedKmh: Math.round(this.#speedKmh),
      satellites: this.#satellites,
      ignition: this.#ignition,
      odometerM: Math.round(this.#odometerM),
      gsmSignal: this.#gsmSignal,
      externalVoltageMv: this.#ignition
        ? 13_800 + Math.round(this.#random() * 400)
        : 12_400 + Math.round(this.#random() * 200),
      batteryVoltageMv: 3_900 + this.#batteryLevel * 3,
      batteryLevel: this.#batteryLevel,
      pdop: moving ? 12 + Math.round(this.#random() * 8) : 10 + Math.round(this.#random() * 5),
      hdop: moving ? 8 + Math.round(this.#random() * 6) : 7 + Math.round(this.#random() * 4),
    };
  }

  /**
   * One AVL record at `timestamp`. A record taken right after the ignition changed is an event
   * record (event IO 239, high priority), as a tracker configured for ignition events sends.
   */
  record(timestamp: number, extraIo: readonly IoValue[] = []): AvlRecord {
    const s = this.snapshot();
    const event = this.#ignitionChanged;
    this.#ignitionChanged = false;
    return {
      timestamp,
      priority: event ? 1 : 0,
      longitude: round7(s.position.lon),
      latitude: round7(s.position.lat),
      altitude: s.altitude,
      angle: s.heading,
      satellites: s.satellites,
      speed: s.speedKmh,
      eventIoId: event ? 239 : 0,
      io: [
        { id: 239, width: 1, value: s.ignition ? 1 : 0 },
        { id: 240, width: 1, value: s.speedKmh > 0 ? 1 : 0 },
        { id: 21, width: 1, value: s.gsmSignal },
        { id: 69, width: 1, value: 1 },
        { id: 113, width: 1, value: s.batteryLevel },
        { id: 200, width: 1, value: 0 },
        { id: 24, width: 2, value: s.speedKmh },
        { id: 66, width: 2, value: s.externalVoltageMv },
        { id: 67, width: 2, value: s.batteryVoltageMv },
        { id: 181, width: 2, value: s.pdop },
        { id: 182, width: 2, value: s.hdop },
        { id: 16, width: 4, value: s.odometerM },
        ...extraIo,
      ],
    };
  }

  #stepOnce(seconds: number): void {
    this.#advancePhase(seconds * 1_000);
    const target = this.#phase.kind === 'driving' ? this.#phase.cruiseKmh : 0;
    const maxChange = MAX_ACCEL_KMH_PER_S * seconds;
    this.#speedKmh += clamp(target - this.#speedKmh, -maxChange, maxChange);
    if (this.#speedKmh < 0.5) this.#speedKmh = 0;
    // The driver switches the engine off once the car is standing, not while it rolls to a stop.
    if (this.#phase.kind === 'stopped' && this.#phase.parked && this.#speedKmh === 0)
      this.#setIgnition(false);
    this.#turn(seconds);
    this.#move(seconds);
    this.#driftSensors();
  }

  #advancePhase(ms: number): void {
    this.#phase.remainingMs -= ms;
    if (this.#phase.remainingMs > 0) return;
    const random = this.#random;
    if (this.#phase.kind === 'driving') {
      const parked = random() < 0.25;
      this.#phase = {
        kind: 'stopped',
        parked,
        remainingMs: parked ? between(random, 60_000, 900_000) : between(random, 5_000, 60_000),
      };
    } else {
      this.#phase = {
        kind: 'driving',
        remainingMs: between(random, 30_000, 900_000),
        cruiseKmh: cruise(random),
      };
      this.#setIgnition(true);
    }
  }

  #setIgnition(on: boolean): void {
    if (this.#ignition === on) return;
    this.#ignition = on;
    this.#ignitionChanged = true;
  }

  /** The turn rate itself random-walks, so heading changes are smooth curves, not zig-zags. */
  #turn(seconds: number): void {
    if (this.#speedKmh === 0) return;
    const homeward = this.#steeringHome();
    this.#turnRate = clamp(
      this.#turnRate * 0.9 + between(this.#random, -3, 3) + homeward,
      -MAX_TURN_DEG_PER_S,
      MAX_TURN_DEG_PER_S,
    );
    this.#heading = (((this.#heading + this.#turnRate * seconds) % 360) + 360) % 360;
  }

  /** Past 80 % of the radius the vehicle bends back towards the centre. */
  #steeringHome(): number {
    const { centre, radiusKm } = this.#options;
    if (distanceM(centre, this.#position) < radiusKm * 800) return 0;
    const towardsCentre = bearing(this.#position, centre);
    const error = ((towardsCentre - this.#heading + 540) % 360) - 180;
    return clamp(error / 4, -10, 10);
  }

  #move(seconds: number): void {
    const metres = (this.#speedKmh / 3.6) * seconds;
    if (metres === 0) return;
    const { centre, radiusKm } = this.#options;
    let next = offset(this.#position, metres, this.#heading);
    // A hard edge as well as the steering: whatever the random walk does, the track stays inside.
    const fromCentre = distanceM(centre, next);
    if (fromCentre > radiusKm * 1_000) {
      next = offset(centre, radiusKm * 1_000 * 0.999, bearing(centre, next));
      this.#heading = bearing(next, centre);
    }
    this.#odometerM += metres;
    this.#altitude = Math.round(clamp(this.#altitude + between(this.#random, -0.6, 0.6) * seconds, 60, 250));
    this.#position = next;
  }

  #driftSensors(): void {
    const random = this.#random;
    if (random() < 0.02) this.#satellites = clamp(this.#satellites + (random() < 0.5 ? -1 : 1), 6, 14);
    if (random() < 0.01) this.#gsmSignal = clamp(this.#gsmSignal + (random() < 0.5 ? -1 : 1), 1, 5);
    if (random() < 0.002) this.#batteryLevel = clamp(this.#batteryLevel + (this.#ignition ? 1 : -1), 20, 100);
  }
}

function cruise(random: Random): number {
  return Math.round(between(random, 20, MAX_SPEED_KMH));
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function round7(degrees: number): number {
  return Math.round(degrees * 1e7) / 1e7;
}

/** Moves `metres` along `headingDeg` (flat-earth approximation, fine at city scale). */
export function offset(from: GeoPoint, metres: number, headingDeg: number): GeoPoint {
  const north = metres * Math.cos(headingDeg * DEG);
  const east = metres * Math.sin(headingDeg * DEG);
  return {
    lat: from.lat + north / EARTH_METRES_PER_DEGREE,
    lon: from.lon + east / (EARTH_METRES_PER_DEGREE * Math.cos(from.lat * DEG)),
  };
}

export function distanceM(a: GeoPoint, b: GeoPoint): number {
  const north = (b.lat - a.lat) * EARTH_METRES_PER_DEGREE;
  const east = (b.lon - a.lon) * EARTH_METRES_PER_DEGREE * Math.cos(((a.lat + b.lat) / 2) * DEG);
  return Math.hypot(north, east);
}

/** Degrees from north, 0..360. */
export function bearing(from: GeoPoint, to: GeoPoint): number {
  const north = to.lat - from.lat;
  const east = (to.lon - from.lon) * Math.cos(((from.lat + to.lat) / 2) * DEG);
  return (((Math.atan2(east, north) / DEG) % 360) + 360) % 360;
}
