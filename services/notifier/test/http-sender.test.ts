import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { closedPort } from '@fleetwire/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { postWebhook } from '../src/adapters/http-sender.ts';

/** A real HTTP server whose answer per request the test chooses; counts TCP connections. */
async function serve(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const bodies: string[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      bodies.push(body);
      answer(req, res);
    });
  });
  server.on('connection', () => {
    connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { server, url, bodies, connections: () => connections };
}

describe('postWebhook (real HTTP servers)', () => {
  const servers: http.Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });
  const post = (url: string, body = '{"a":1}', timeoutMs = 2_000) =>
    postWebhook({ url, body, timeoutMs, headers: { 'content-type': 'application/json' } });

  it('posts the body and reuses one kept-alive connection for consecutive deliveries', async () => {
    const host = await serve((_req, res) => res.writeHead(204).end());
    servers.push(host.server);
    for (let i = 0; i < 5; i++) expect(await post(host.url, `{"n":${i}}`)).toEqual({ ok: true, status: 204 });
    expect(host.bodies).toEqual(['{"n":0}', '{"n":1}', '{"n":2}', '{"n":3}', '{"n":4}']);
    expect(host.connections()).toBe(1);
  });

  it('does not follow redirects and reports 410 as permanent', async () => {
    const host = await serve((req, res) =>
      req.url === '/gone' ? res.writeHead(410).end() : res.writeHead(302, { location: '/gone' }).end('moved'),
    );
    servers.push(host.server);
    expect(await post(host.url)).toMatchObject({ ok: false, status: 302, permanent: false });
    expect(host.bodies).toHaveLength(1);
    expect(await post(host.url.replace('/hook', '/gone'))).toMatchObject({ ok: false, permanent: true });
  });

  it('gives up on a host that does not answer within the timeout, as a retryable failure', async () => {
    const host = await serve(() => {});
    servers.push(host.server);
    const started = Date.now();
    expect(await post(host.url, '{}', 300)).toEqual({
      ok: false,
      error: 'timeout after 300 ms',
      permanent: false,
    });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('sends a request once more on a new connection when the kept-alive one turns out closed', async () => {
    // A raw host: answers the first request of each connection and keeps it open, then resets the
    // connection when a second request arrives on it, as a host closing an idle connection does
    // when a request crosses its close.
    let connections = 0;
    const requests: number[] = [];
    const sockets = new Set<net.Socket>();
    const host = net.createServer((socket) => {
      sockets.add(socket);
      const connection = ++connections;
      let answered = false;
      socket.on('data', (chunk) => {
        if (!chunk.includes('\r\n\r\n')) return;
        requests.push(connection);
        if (answered) return void socket.resetAndDestroy();
        answered = true;
        socket.write('HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n');
      });
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(host.address() as AddressInfo).port}/hook`;
      expect(await post(url, '{"n":1}')).toEqual({ ok: true, status: 204 });
      expect(await post(url, '{"n":2}')).toEqual({ ok: true, status: 204 });
      // The second delivery went out on connection 1 (reset), then on a new connection 2.
      expect(requests).toEqual([1, 1, 2]);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => host.close(resolve));
    }
  });

  it('reports a refused connection as retryable and a non-http URL as permanent', async () => {
    const refused = await post(`http://127.0.0.1:${await closedPort()}/hook`);
    expect(refused).toMatchObject({ ok: false, permanent: false });
    expect(refused.ok ? '' : refused.error).toContain('ECONNREFUSED');
    expect(await post('ftp://example.com/x')).toMatchObject({ ok: false, permanent: true });
  });
});
