import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { decodeProtoMsg, encodeProtoMsg, MSG_TYPE, PROTO } from '@fleetwire/protocol';
import { createLogger } from '@fleetwire/runtime';
import { eventually } from '@fleetwire/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { CredentialStore, FleetStats, fleetIdentity, SimulatedWsDevice } from '../src/index.ts';
import { firstHeartbeatDelay } from '../src/ws/simulated-ws-device.ts';
import { SUBPROTOCOL } from '../src/ws/wire.ts';

const HEARTBEAT_MS = 1_000;

/**
 * A minimal edge on real sockets: answers the session start, accepts the WebSocket and control/open
 * with the given heartbeat, and records when each control/ping arrives.
 */
async function pingRecordingEdge() {
  const pings: number[] = [];
  let acceptedAt = 0;
  const wss = new WebSocketServer({ noServer: true });
  wss.on('headers', (headers) => headers.push(`Sec-WebSocket-Protocol: ${SUBPROTOCOL}`));
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          token: 'fws_test',
          sessionId: 'ses_test',
          deviceId: 'gw-heartbeat',
          tenant: 'default',
          expiresAt: new Date(Date.now() + 60_000).toISOString(),
          heartbeatMs: HEARTBEAT_MS,
          connectPath: '/device/v1/connect',
        }),
      );
    });
  });
  server.on('upgrade', (req, socket, head) => {
    delete req.headers['sec-websocket-protocol'];
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data: Buffer) => {
        const typ = decodeProtoMsg(data).hdr.typ;
        if (typ === MSG_TYPE.CONTROL.PING) pings.push(performance.now());
        if (typ !== MSG_TYPE.CONTROL.OPEN) return;
        acceptedAt = performance.now();
        ws.send(
          encodeProtoMsg({
            hdr: {
              proto: PROTO.CONTROL,
              typ: MSG_TYPE.CONTROL.ACCEPT,
              props: { heartbeatMs: HEARTBEAT_MS, epoch: 1 },
            },
          }),
        );
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    pings,
    acceptedAt: () => acceptedAt,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('gateway heartbeat phase', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('draws the first ping uniformly within one heartbeat, never at 0', () => {
    expect(firstHeartbeatDelay(5_000, () => 0)).toBe(1);
    expect(firstHeartbeatDelay(5_000, () => 0.5)).toBe(2_500);
    expect(firstHeartbeatDelay(5_000, () => 0.9999)).toBe(4_999);
  });

  it('sends the first ping at its random phase, then one every heartbeat', async () => {
    const edge = await pingRecordingEdge();
    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-sim-hb-'));
    cleanups.push(async () => {
      await edge.close();
      fs.rmSync(logDir, { recursive: true, force: true });
    });
    const credentials = CredentialStore.open(undefined);
    credentials.set('gw-heartbeat', 'fwd_test');
    const device = new SimulatedWsDevice({
      id: 'gw-heartbeat',
      identity: fleetIdentity('hb', 0),
      settings: {
        url: edge.url,
        telemetryIntervalMs: 0,
        reportState: false,
        heartbeatMs: HEARTBEAT_MS,
        ackTimeoutMs: 10_000,
        connectTimeoutMs: 10_000,
        backoff: { baseMs: 1_000, capMs: 5_000 },
        rebootDelayMs: 1_000,
        maxPendingMessages: 10,
      },
      credentials,
      logDir,
      // The phase draw: 30 % into the first heartbeat.
      random: () => 0.3,
      stats: new FleetStats(),
      log: createLogger('test', 'heartbeat', 'silent'),
    });
    cleanups.unshift(() => device.stop());
    device.start();
    await eventually(() => edge.pings.length >= 2, 10_000, 'two pings');
    const first = edge.pings[0]! - edge.acceptedAt();
    const second = edge.pings[1]! - edge.pings[0]!;
    // 300 ms after the accept (timers never fire early; a busy host may make them late), not a whole
    // heartbeat as before; then the regular period.
    expect(first).toBeGreaterThanOrEqual(290);
    expect(first).toBeLessThan(900);
    expect(second).toBeGreaterThanOrEqual(HEARTBEAT_MS - 10);
  });
});
