export type { ServerMessage, TrackerCommand } from '@fleetwire/tracker-client';
export { ServerStreamParser, TrackerClient } from '@fleetwire/tracker-client';
export type { DeviceSession, HttpTarget, SessionRequest, UploadedLog } from './adapters/device-http.ts';
export {
  EdgeRefusal,
  SESSIONS_PATH,
  sessionFromAnswer,
  startSession,
  uploadLog,
} from './adapters/device-http.ts';
export { simulatorStateDir } from './adapters/local-stack.ts';
export { registerTrackers } from './adapters/registry.ts';
export type { BackoffOptions } from './backoff.ts';
export { Backoff, DEFAULT_BACKOFF } from './backoff.ts';
export type { Device, DeviceKind, DeviceState } from './device.ts';
export { DEVICE_KIND, DEVICE_STATE } from './device.ts';
export type { Fleet, FleetInput, FleetOptions } from './fleet.ts';
export { DEFAULT_FLEET_OPTIONS, fleetImeis, runFleet } from './fleet.ts';
export { imeiFor, isValidImei, luhnCheckDigit, MAX_FLEET_SIZE } from './imei.ts';
export type { Random } from './random.ts';
export { poisson, seededRandom } from './random.ts';
export type { FleetSize, StatsSnapshot } from './stats.ts';
export { FleetStats, formatSummary } from './stats.ts';
export type { CommandOutcome, TrackerFacts } from './tracker/commands.ts';
export { answerCommand } from './tracker/commands.ts';
export type { TrackerSettings } from './tracker/simulated-tracker.ts';
export { DEFAULT_TRACKER_SETTINGS, SimulatedTracker } from './tracker/simulated-tracker.ts';
export type { GeoPoint, VehicleOptions, VehicleSnapshot } from './tracker/vehicle.ts';
export { DEFAULT_CENTRE, DEFAULT_RADIUS_KM, Vehicle } from './tracker/vehicle.ts';
export type {
  CommandChannel,
  CommandOutcome as WsCommandOutcome,
  GatewayActions,
  GatewayParameters,
} from './ws/commands.ts';
export { handleCommand, WS_COMMAND } from './ws/commands.ts';
export { CREDENTIALS_FILE, CredentialStore } from './ws/credentials.ts';
export type { DeviceLogEntry } from './ws/device-log.ts';
export { DeviceLogFile } from './ws/device-log.ts';
export type { FaultTick } from './ws/faults.ts';
export { FAULT_LAMBDA, FAULT_MAX_K, FAULT_TICK, FaultInjector } from './ws/faults.ts';
export type { GatewayIdentity } from './ws/identity.ts';
export { fleetIdentity, hostIdentity, sessionRequestOf, wsDeviceId, wsDeviceIds } from './ws/identity.ts';
export type { GatewaySample } from './ws/sensors.ts';
export { GatewaySensors } from './ws/sensors.ts';
export type { WsDeviceDeps, WsDeviceObserver, WsDeviceSettings } from './ws/simulated-ws-device.ts';
export { DEFAULT_WS_DEVICE_SETTINGS, SimulatedWsDevice } from './ws/simulated-ws-device.ts';
export type { EdgeMessage } from './ws/wire.ts';
export { OPEN_FRAME, PING_FRAME, readEdgeMessage, SUBPROTOCOL } from './ws/wire.ts';
