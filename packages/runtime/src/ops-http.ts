import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.ts';

export type ReadinessCheck = () => Promise<void>;

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * The small per-service operations port: `/healthz` (the process is alive), `/readyz` (every check
 * passes: dependencies reachable and the service says it is ready) and Prometheus `/metrics`.
 */
export async function startOpsServer(opts: {
  port: number;
  host?: string;
  registry: Registry;
  checks: Record<string, ReadinessCheck>;
  log: Logger;
}): Promise<OpsServer> {
  const server = http.createServer((req, res) => {
    const url = req.url?.split('?')[0];
    if (req.method !== 'GET') return send(res, 405, { error: 'method not allowed' });
    if (url === '/healthz') return send(res, 200, { status: 'ok' });
    if (url === '/readyz') {
      void readiness(opts.checks).then(({ ok, checks }) =>
        send(res, ok ? 200 : 503, { status: ok ? 'ready' : 'not ready', checks }),
      );
      return;
    }
    if (url === '/metrics') {
      void opts.registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': opts.registry.contentType });
          res.end(body);
        },
        (err) => send(res, 500, { error: String(err) }),
      );
      return;
    }
    send(res, 404, { error: 'not found' });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readiness(checks: Record<string, ReadinessCheck>) {
  const results: Record<string, string> = {};
  let ok = true;
  await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        await withTimeout(check(), 2_000);
        results[name] = 'ok';
      } catch (err) {
        ok = false;
        results[name] = (err as Error).message || 'failed';
      }
    }),
  );
  return { ok, checks: results };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
