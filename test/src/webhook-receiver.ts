import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The raw body exactly as received: what a signature is checked against. */
  raw: string;
  json: Record<string, unknown>;
  at: number;
}

/** What the receiver answers for a path: a status, or 'hang' to never answer (a dead host). */
export type Behaviour = number | 'hang';

/**
 * A real webhook host on a real port (node:http), recording every request. `down()` closes the port
 * (connection refused) and `up()` listens on the same port again, so a notifier configured with its
 * URL sees the host disappear and come back.
 */
export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  readonly #behaviour = new Map<string, Behaviour>();
  readonly #waiters = new Set<() => void>();
  #server: http.Server | undefined;
  #port = 0;

  get port(): number {
    return this.#port;
  }

  get listening(): boolean {
    return this.#server !== undefined;
  }

  url(path = ''): string {
    return `http://127.0.0.1:${this.#port}${path}`;
  }

  /** Answer `behaviour` for paths starting with `prefix` (default 204 for everything else). */
  respond(prefix: string, behaviour: Behaviour): void {
    this.#behaviour.set(prefix, behaviour);
  }

  async listen(port = 0): Promise<this> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const path = req.url ?? '';
        this.requests.push({
          path,
          headers: req.headers,
          raw,
          json: JSON.parse(raw || '{}'),
          at: Date.now(),
        });
        const behaviour = this.#behaviourFor(path);
        if (behaviour !== 'hang') res.writeHead(behaviour).end();
        for (const wake of this.#waiters) wake();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
    return this;
  }

  /** The host goes away: its port refuses connections until `up()`. */
  down(): Promise<void> {
    return this.close();
  }

  /** The host comes back on the port it had. */
  async up(): Promise<this> {
    if (this.#port === 0) throw new Error('the receiver never listened: nothing to come back to');
    if (this.#server) return this;
    return this.listen(this.#port);
  }

  #behaviourFor(path: string): Behaviour {
    let best: [string, Behaviour] | undefined;
    for (const entry of this.#behaviour) {
      if (path.startsWith(entry[0]) && (!best || entry[0].length > best[0].length)) best = entry;
    }
    return best?.[1] ?? 204;
  }

  to(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** The first request (already received or still to come) that satisfies `match`. */
  waitFor(match: (r: ReceivedRequest) => boolean, timeoutMs = 15_000): Promise<ReceivedRequest> {
    const found = this.requests.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const wake = () => {
        const hit = this.requests.find(match);
        if (!hit) return;
        done();
        resolve(hit);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching webhook request within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
      };
      this.#waiters.add(wake);
    });
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A port nothing listens on (yet): bind, note the port, release it. */
export async function closedPort(): Promise<number> {
  const probe = await new WebhookReceiver().listen();
  const port = probe.port;
  await probe.close();
  return port;
}
