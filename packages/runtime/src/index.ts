export type { BatchConsumerOptions, BatchOutcome } from './batch-consumer.ts';
export { ackTogether, BatchConsumer, isRedelivered } from './batch-consumer.ts';
export type { ConfigOf, ConfigSpec, EnvVar } from './config.ts';
export { ConfigError, describeConfig, env, loadConfig, parseDuration } from './config.ts';
export type { PeriodicTask } from './every.ts';
export { runEvery } from './every.ts';
export type { HeldSubject } from './held-subjects.ts';
export { listHeldSubjects } from './held-subjects.ts';
export type { Logger, LogLevel } from './logger.ts';
export { createLogger, LOG_LEVELS } from './logger.ts';
export type {
  ConsumerDefinition,
  KvDefinition,
  NatsFeatures,
  NatsHandle,
  ObjectStoreDefinition,
  Provisioning,
  StreamDefinition,
} from './nats.ts';
export {
  coalesceSocketWrites,
  compareVersions,
  connectNats,
  featuresOf,
  MIN_NATS_VERSION,
  NatsVersionError,
  provision,
  terminate,
} from './nats.ts';
export type { OpsServer, ReadinessCheck } from './ops-http.ts';
export { startOpsServer } from './ops-http.ts';
export type { Migration, Sql } from './postgres.ts';
export { connectPostgres, MigrationError, migrate, readMigrations } from './postgres.ts';
export type { PubAck, PublishCallback } from './publisher.ts';
export { JetStreamPublisher, PublishError } from './publisher.ts';
export type { SecretKind } from './secrets.ts';
export { hashSecret, newId, newSecret, SECRET_KIND } from './secrets.ts';
export type { RunningService, ServiceContext, ServiceDefinition, ServiceInstance } from './service.ts';
export { commonConfig, EXIT_CONFIG, runService, startService, topologyOf } from './service.ts';
export { provisioningFor } from './topology.ts';
export { reuseFragmentList } from './ws-fragments.ts';
