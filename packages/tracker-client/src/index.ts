export type { TrackerCommand } from './tracker-client.ts';
export { TrackerClient } from './tracker-client.ts';
export type { ServerMessage } from './wire.ts';
export { ServerStreamParser } from './wire.ts';
