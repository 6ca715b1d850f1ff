/**
 * The lean load client against a real edge-ws (its own process, with nats-server and PostgreSQL, as
 * the bench starts them). Part of `./fleetwire test` (~10 s).
 */
import path from 'node:path';
import { freePort } from '@fleetwire/devstack';
import { CredentialStore, FleetStats, fleetIdentity, wsDeviceId } from '@fleetwire/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeanGateway, type LeanObserver, RandomPool, SessionClient } from '../src/lean-gateway.ts';
import { type BenchService, BenchStack } from '../src/stack.ts';
import { GATEWAY_SEED, registerGateways } from '../src/ws-gateways.ts';

const GATEWAYS = 40;
/** Short, so that a gateway whose pings the edge could not read is dropped within the test. */
const HEARTBEAT_MS = 300;

let stack: BenchStack;
let edge: BenchService;
let url: URL;
let stateDir: string;

beforeAll(async () => {
  stack = await BenchStack.start({ ephemeralPg: true, keep: false, cpuProf: undefined });
  const wsPort = await freePort();
  edge = await stack.startService('edge-ws', {
    FW_WS_PORT: String(wsPort),
    FW_WS_HOST: '127.0.0.1',
    FW_WS_HEARTBEAT: `${HEARTBEAT_MS}ms`,
  });
  url = new URL(`http://127.0.0.1:${wsPort}`);
  stateDir = path.join(stack.dir, 'sim-state');
  await registerGateways(stack.sql, stateDir, GATEWAYS);
}, 120_000);

afterAll(() => stack?.close(), 60_000);

async function edgeConnections(): Promise<number> {
  const text = await (await fetch(`${edge.opsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => /^fleetwire_edge_ws_connections[ {]/.test(l));
  return Number(line?.split(' ').at(-1));
}

function fleetOf(count: number, first = 0) {
  const stats = new FleetStats();
  const accepted: Array<{ id: string; sessionMs: number; totalMs: number }> = [];
  const failures: string[] = [];
  const observer: LeanObserver = {
    accepted: (g, timing) => accepted.push({ id: g.id, ...timing }),
    connectFailed: (g, reason) => failures.push(`${g.id}: ${reason}`),
  };
  const addresses = ['127.0.0.1', '127.0.0.2'];
  const fleet = {
    url,
    // Fewer connections than gateways: session starts are pipelined.
    sessions: new SessionClient(url, 2, addresses, 10_000),
    credentials: CredentialStore.open(stateDir),
    stats,
    random: new RandomPool(),
    observer,
    heartbeatMs: 5_000,
    connectTimeoutMs: 10_000,
    backoff: { baseMs: 200, capMs: 1_000 },
  };
  const gateways = Array.from(
    { length: count },
    (_, k) =>
      new LeanGateway(
        wsDeviceId(GATEWAY_SEED, first + k),
        fleetIdentity(GATEWAY_SEED, first + k),
        addresses[k % 2],
        fleet,
      ),
  );
  return { gateways, stats, accepted, failures, sessions: fleet.sessions };
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('lean gateways against edge-ws', () => {
  it('open sessions over pipelined keep-alive connections, stay online by pinging, close cleanly', async () => {
    const { gateways, stats, accepted, failures, sessions } = fleetOf(GATEWAYS);
    for (const g of gateways) g.start();
    await until(() => accepted.length === GATEWAYS);
    expect(failures).toEqual([]);
    expect(new Set(accepted.map((a) => a.id)).size).toBe(GATEWAYS);
    for (const a of accepted) expect(a.totalMs).toBeGreaterThanOrEqual(a.sessionMs);
    sessions.close();
    // Several heartbeats: the edge closes a gateway that stays silent for a few of them.
    await new Promise((r) => setTimeout(r, 6 * HEARTBEAT_MS));
    expect(stats.wsConnected).toBe(GATEWAYS);
    expect(stats.reconnects).toBe(0);
    expect(await edgeConnections()).toBe(GATEWAYS);
    await Promise.all(gateways.map((g) => g.stop()));
    await until(async () => (await edgeConnections()) === 0);
  }, 60_000);

  it('counts a refused session start as a failure and retries', async () => {
    // Beyond the registered fleet: the edge does not know this device.
    const { gateways, stats, accepted, failures } = fleetOf(1, GATEWAYS);
    gateways[0]!.start();
    await until(() => failures.length >= 2);
    expect(failures[0]).toMatch(/^.+: session start: 40[13] /);
    expect(accepted).toEqual([]);
    expect(stats.sessionsRefused).toBeGreaterThanOrEqual(2);
    await gateways[0]!.stop();
  }, 60_000);
});
