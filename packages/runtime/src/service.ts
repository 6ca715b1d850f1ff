import os from 'node:os';
import {
  DEFAULT_DEVICE_LOG_TTL_MS,
  DEFAULT_EDGE_LEASE_TTL_MS,
  type JetStreamTopology,
  jetStreamTopology,
} from '@fleetwire/protocol';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { ConfigError, type ConfigOf, type ConfigSpec, env, loadConfig } from './config.ts';
import { createLogger, LOG_LEVELS, type Logger } from './logger.ts';
import { connectNats, type NatsHandle, type Provisioning, provision } from './nats.ts';
import { startOpsServer } from './ops-http.ts';
import { connectPostgres, type Migration, migrate, type Sql } from './postgres.ts';

/** Variables every service understands. */
export function commonConfig(defaultHttpPort: number) {
  return {
    natsUrl: env.url('FW_NATS_URL', { protocols: ['nats:', 'tls:'], default: 'nats://127.0.0.1:4222' }),
    subjectRoot: env.string('FW_SUBJECT_ROOT', {
      default: 'fw',
      pattern: /^[A-Za-z0-9_-]{1,32}$/,
      describe: 'a subject token of 1-32 letters, digits, _ or -',
    }),
    httpPort: env.int('FW_HTTP_PORT', { default: defaultHttpPort, min: 0, max: 65535 }),
    logLevel: env.oneOf('FW_LOG_LEVEL', LOG_LEVELS, { default: 'info' }),
    shutdownTimeoutMs: env.duration('FW_SHUTDOWN_TIMEOUT', { default: 15_000, minMs: 100 }),
    instanceId: env.string('FW_INSTANCE_ID', { default: `${os.hostname()}-${process.pid}` }),
    // Settings of the shared JetStream topology: every service reads them, so give them the same
    // value everywhere (one ConfigMap). Provisioning converges existing buckets to them.
    edgeLeaseTtlMs: env.duration('FW_EDGE_LEASE_TTL', { default: DEFAULT_EDGE_LEASE_TTL_MS, minMs: 1_000 }),
    deviceLogTtlMs: env.duration('FW_DEVICE_LOG_TTL', { default: DEFAULT_DEVICE_LOG_TTL_MS, minMs: 60_000 }),
  };
}

/** The JetStream topology as this deployment configures it: the one place services get it from. */
export function topologyOf(config: {
  subjectRoot: string;
  edgeLeaseTtlMs: number;
  deviceLogTtlMs: number;
}): JetStreamTopology {
  return jetStreamTopology({
    root: config.subjectRoot,
    edgeLeaseTtlMs: config.edgeLeaseTtlMs,
    deviceLogTtlMs: config.deviceLogTtlMs,
  });
}

const databaseConfig = {
  databaseUrl: env.url('FW_DATABASE_URL', { protocols: ['postgres:', 'postgresql:'], secret: true }),
  databasePoolSize: env.int('FW_DATABASE_POOL', { default: 10, min: 1, max: 200 }),
};

type CommonConfig = ConfigOf<ReturnType<typeof commonConfig>>;
type DatabaseConfig = ConfigOf<typeof databaseConfig>;

export interface ServiceContext<S extends ConfigSpec> {
  readonly name: string;
  readonly config: ConfigOf<S> & CommonConfig & Partial<DatabaseConfig>;
  readonly log: Logger;
  readonly nats: NatsHandle;
  /** Present when the service declared `migrations`. */
  readonly sql: Sql | undefined;
  readonly metrics: Registry;
  /** Flip readiness (e.g. false while a dependency the service needs is paused). */
  setReady(ready: boolean): void;
}

export interface ServiceInstance {
  /** Stop intake, finish or hand back in-flight work. NATS and Postgres are closed afterwards by the runtime. */
  stop(): Promise<void>;
}

export interface ServiceDefinition<S extends ConfigSpec, I extends ServiceInstance = ServiceInstance> {
  name: string;
  defaultHttpPort: number;
  config: S;
  /** Services that use Postgres list the schema migrations; they run once, under an advisory lock. */
  migrations?: () => Migration[];
  provisioning?: (config: ConfigOf<S> & CommonConfig) => Provisioning;
  start(ctx: ServiceContext<S>): Promise<I>;
}

export interface RunningService<S extends ConfigSpec, I extends ServiceInstance = ServiceInstance> {
  readonly ctx: ServiceContext<S>;
  /** What `start` returned (services expose e.g. their listening port to tests here). */
  readonly instance: I;
  readonly opsPort: number;
  stop(): Promise<void>;
}

/** Starts a service in this process: config, logging, NATS, Postgres, migrations, ops port. */
export async function startService<S extends ConfigSpec, I extends ServiceInstance>(
  def: ServiceDefinition<S, I>,
  source: NodeJS.ProcessEnv,
): Promise<RunningService<S, I>> {
  const spec = {
    ...commonConfig(def.defaultHttpPort),
    ...(def.migrations ? databaseConfig : {}),
    ...def.config,
  };
  const config = loadConfig(spec, source) as ServiceContext<S>['config'];
  const log = createLogger(def.name, config.instanceId, config.logLevel);
  const metrics = new Registry();
  metrics.setDefaultLabels({ service: def.name });
  collectDefaultMetrics({ register: metrics, prefix: 'fleetwire_' });

  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err) => log.warn({ err }, 'cleanup step failed'));
  };
  try {
    const nats = await connectNats(config.natsUrl, `${def.name}/${config.instanceId}`, log);
    cleanups.push(() => nats.nc.drain());
    if (def.provisioning) await provision(nats, def.provisioning(config), log);

    let sql: Sql | undefined;
    if (def.migrations && config.databaseUrl) {
      const db = connectPostgres(config.databaseUrl, { max: config.databasePoolSize, appName: def.name });
      sql = db;
      cleanups.push(() => db.end({ timeout: 5 }));
      await migrate(db, def.migrations(), log);
    }

    let ready = false;
    const ops = await startOpsServer({
      port: config.httpPort,
      registry: metrics,
      log,
      checks: {
        nats: async () => {
          if (nats.nc.isClosed()) throw new Error('closed');
          await nats.nc.flush();
        },
        ...(sql ? { postgres: async () => void (await sql`select 1`) } : {}),
        service: async () => {
          if (!ready) throw new Error('not ready');
        },
      },
    });
    cleanups.splice(0, 0, () => ops.close());

    const ctx: ServiceContext<S> = {
      name: def.name,
      config,
      log,
      nats,
      sql,
      metrics,
      setReady: (r) => {
        ready = r;
      },
    };
    const instance = await def.start(ctx);
    ready = true;
    log.info({ opsPort: ops.port }, `${def.name} started`);
    let stopping: Promise<void> | undefined;
    return {
      ctx,
      instance,
      opsPort: ops.port,
      stop: () => {
        stopping ??= (async () => {
          ready = false;
          await instance.stop();
          await cleanup();
          log.info(`${def.name} stopped`);
        })();
        return stopping;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Exit code for a configuration error (sysexits EX_CONFIG). */
export const EXIT_CONFIG = 78;

/**
 * `main()` of every service: start, then on SIGTERM/SIGINT stop gracefully within the configured
 * time and exit 0. Bad configuration exits 78 with one line per offending variable.
 */
export async function runService<S extends ConfigSpec, I extends ServiceInstance>(
  def: ServiceDefinition<S, I>,
): Promise<void> {
  let running: RunningService<S, I>;
  try {
    running = await startService(def, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${def.name}: ${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    process.stderr.write(`${def.name}: failed to start: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  }
  const { log, config } = running.ctx;
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled rejection');
    process.exit(1);
  });
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out');
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    running.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
