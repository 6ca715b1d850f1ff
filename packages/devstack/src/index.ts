export type { NatsOptions, RunningNats } from './nats.ts';
export { natsGomaxprocs, startNats } from './nats.ts';
export { freePort, waitForPort } from './ports.ts';
export type { PostgresOptions, RunningPostgres } from './postgres.ts';
export { createDatabase, findPgBindir, startPostgres } from './postgres.ts';
export type { ManagedProcess, StartOptions } from './process.ts';
export { isAlive, startProcess, stopPid } from './process.ts';
