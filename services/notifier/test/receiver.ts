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

/** A real webhook host on a real port (node:http), recording every request. */
export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  readonly #behaviour = new Map<string, Behaviour>();
  #server: http.Server | undefined;
  #port = 0;

  get port(): number {
    return this.#port;
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
        if (behaviour === 'hang') return;
        res.writeHead(behaviour).end();
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

export async function eventually<T>(
  fn: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
