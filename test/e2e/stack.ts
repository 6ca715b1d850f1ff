import { type RunningService, type ServiceInstance, startService } from '@fleetwire/runtime';
import type { TestEnv } from '@fleetwire/testkit';
// The e2e tests run the services themselves; importing them by path keeps the testkit package free
// of dependencies on the services (whose own tests depend on the testkit).
import { type ApiInstance, api } from '../../services/api/src/main.ts';
import { type CommandInstance, command } from '../../services/command/src/main.ts';
import { edgeTcp } from '../../services/edge-tcp/src/main.ts';
import { notifier } from '../../services/notifier/src/main.ts';

type Vars = Record<string, string>;

export interface StackOverrides {
  edge?: Vars;
  command?: Vars;
  notifier?: Vars;
  api?: Vars;
  /** Command dispatcher instances sharing the consumers (default 1). */
  dispatchers?: number;
}

export interface Stack {
  edge: RunningService<typeof edgeTcp.config, { port: number; stop(): Promise<void> }>;
  dispatchers: Array<RunningService<typeof command.config, CommandInstance>>;
  notifier: RunningService<typeof notifier.config, ServiceInstance>;
  api: RunningService<typeof api.config, ApiInstance>;
  /** Where TrackerClient connects. */
  trackerPort: number;
  /** Base URL of the REST API, e.g. http://127.0.0.1:41234 */
  apiUrl: string;
  stop(): Promise<void>;
}

/** Quick retries and sweeps so the retry and expiry paths run in test time; overrides win. */
const TEST_DEFAULTS = {
  edge: {
    FW_TCP_PORT: '0',
    FW_TCP_HOST: '127.0.0.1',
    FW_TCP_COMMAND_TIMEOUT: '2s',
    FW_TCP_DRAIN_SPREAD: '0',
  },
  command: { FW_COMMAND_SWEEP_INTERVAL: '200ms', FW_COMMAND_BUSY_RETRY: '200ms' },
  notifier: { FW_WEBHOOK_TIMEOUT: '2s' },
  api: { API_PORT: '0', FW_API_HOST: '127.0.0.1' },
};

/**
 * edge-tcp, the command dispatcher(s), the notifier and the REST API in this process, on the test
 * environment's database and subject root. Started one after another (each provisions its streams
 * and migrates), stopped in reverse order.
 */
export async function startStack(env: TestEnv, overrides: StackOverrides = {}): Promise<Stack> {
  const started: Array<{ stop(): Promise<void> }> = [];
  const start = async <T extends { stop(): Promise<void> }>(starting: Promise<T>): Promise<T> => {
    const service = await starting;
    started.push(service);
    return service;
  };
  const stopAll = async () => {
    for (const s of started.reverse()) await s.stop().catch(() => {});
  };
  try {
    const edge = await start(
      startService(edgeTcp, env.serviceEnv({ ...TEST_DEFAULTS.edge, ...overrides.edge })),
    );
    const dispatchers = [];
    for (let i = 0; i < (overrides.dispatchers ?? 1); i++) {
      const vars = { ...TEST_DEFAULTS.command, FW_INSTANCE_ID: `dispatcher-${i}`, ...overrides.command };
      dispatchers.push(await start(startService(command, env.serviceEnv(vars))));
    }
    const notifierService = await start(
      startService(notifier, env.serviceEnv({ ...TEST_DEFAULTS.notifier, ...overrides.notifier })),
    );
    const apiService = await start(
      startService(api, env.serviceEnv({ ...TEST_DEFAULTS.api, ...overrides.api })),
    );
    return {
      edge,
      dispatchers,
      notifier: notifierService,
      api: apiService,
      trackerPort: edge.instance.port,
      apiUrl: `http://127.0.0.1:${apiService.instance.port}`,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

export interface ApiResponse {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary JSON answers
  body: any;
}

/** A REST API client over real HTTP, with `x-api-key` set unless `key` is null. */
export function apiClient(baseUrl: string, defaultKey: string) {
  return async (
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    path: string,
    opts: { body?: unknown; key?: string | null; headers?: Record<string, string> } = {},
  ): Promise<ApiResponse> => {
    const key = opts.key === undefined ? defaultKey : opts.key;
    const headers: Record<string, string> = { ...opts.headers };
    if (key !== null) headers['x-api-key'] = key;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
}

export type ApiClient = ReturnType<typeof apiClient>;
