import net from 'node:net';
import type { Logger } from '@fleetwire/runtime';
import { type ConnectionDeps, TrackerConnection } from './tracker-connection.ts';

/** The TCP listener: one TrackerConnection per socket, and an orderly drain on shutdown. */
export class TrackerServer {
  readonly #server: net.Server;
  readonly #connections = new Set<TrackerConnection>();
  readonly #log: Logger;

  constructor(deps: ConnectionDeps) {
    this.#log = deps.log;
    // Paused on connect: the connection picks how it reads (see readIntoSharedBuffer) before any byte.
    this.#server = net.createServer(
      { noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000, pauseOnConnect: true },
      (socket) => {
        const conn = new TrackerConnection(socket, deps);
        this.#connections.add(conn);
        socket.once('close', () => this.#connections.delete(conn));
      },
    );
    this.#server.on('error', (err) => this.#log.error({ err }, 'listener error'));
  }

  get size(): number {
    return this.#connections.size;
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ port, host, backlog: 4096 }, () => {
        this.#server.off('error', reject);
        resolve((this.#server.address() as net.AddressInfo).port);
      });
    });
  }

  /**
   * Closes every connection but keeps accepting (the edge lost its lease, so presence may already
   * say its trackers are offline): they reconnect, here or elsewhere, and are online afresh.
   */
  closeAll(reason: string): void {
    this.#log.warn({ connections: this.#connections.size }, 'closing every tracker connection');
    for (const conn of [...this.#connections]) conn.close(reason);
  }

  /**
   * Stops accepting, lets every connection finish answering what it already received, then closes
   * the connections spread over `spreadMs` so that the fleet does not reconnect to the other edges
   * in one burst (the lesson of Mender's graceful shutdown).
   */
  async drain(spreadMs: number): Promise<void> {
    // close() stops accepting now but reports only once every connection is gone, so await it last.
    const listenerClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const conns = [...this.#connections];
    this.#log.info({ connections: conns.length, spreadMs }, 'draining tracker connections');
    const step = conns.length > 0 ? spreadMs / conns.length : 0;
    for (const conn of conns) {
      await conn.settled();
      conn.close('edge shutting down');
      if (step >= 1) await new Promise((r) => setTimeout(r, step));
    }
    // Give the close handlers (presence offline events) a moment to publish before NATS drains.
    const deadline = Date.now() + 2_000;
    while (this.#connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await listenerClosed;
  }
}
