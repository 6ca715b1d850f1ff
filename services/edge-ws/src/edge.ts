import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type Server, WebSocketServer } from 'ws';
import { type ChannelContext, CLOSE, DeviceChannel, DeviceSocket } from './channel.ts';
import type { DeviceSession } from './domain/sessions.ts';

export const SUBPROTOCOL = 'protomsg/msgpack';

export interface EdgeOptions {
  /** How often the one sweep timer checks every channel's deadlines. */
  sweepEveryMs: number;
}

/**
 * The set of device channels of this process: upgrades accepted sockets into channels, runs the single
 * sweep timer that enforces every channel's deadlines, and drains on shutdown.
 */
export class WsEdge {
  readonly #wss: Server<typeof DeviceSocket>;
  readonly #channels = new Set<DeviceChannel>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #ctx: ChannelContext;
  readonly #sweeper: NodeJS.Timeout;
  #accepting = true;

  constructor(context: Omit<ChannelContext, 'released' | 'track' | 'inTurn'>, opts: EdgeOptions) {
    const turn = new TurnQueue();
    this.#ctx = {
      inTurn: (work) => turn.add(work),
      ...context,
      released: (channel) => {
        this.#channels.delete(channel);
        context.metrics.connections.dec();
      },
      track: (work) => {
        this.#inFlight.add(work);
        void work.finally(() => this.#inFlight.delete(work));
      },
    };
    this.#wss = new WebSocketServer<typeof DeviceSocket>({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: 4 * context.maxFrameBytes,
      WebSocket: DeviceSocket,
      // Not in @types/ws yet: give up on a peer that does not answer our close frame after 5 s (default 30 s).
      ...{ closeTimeout: 5_000 },
    });
    // Every socket handed to ws offered our subprotocol (see accept): name it in the 101 answer.
    this.#wss.on('headers', (headers) => headers.push(`Sec-WebSocket-Protocol: ${SUBPROTOCOL}`));
    this.#sweeper = setInterval(() => this.#sweep(), opts.sweepEveryMs);
    this.#sweeper.unref();
  }

  get accepting(): boolean {
    return this.#accepting;
  }

  get size(): number {
    return this.#channels.size;
  }

  /**
   * Completes the WebSocket handshake of an authenticated request that offered `protomsg/msgpack`
   * and opens its channel.
   */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, session: DeviceSession): void {
    // ws accepts only RFC 7230 tokens as subprotocol names and refuses the whole handshake over the
    // '/' in Mender's `protomsg/msgpack`. The offer was checked already, so ws does not see it, and
    // the 'headers' listener names it in the answer.
    delete req.headers['sec-websocket-protocol'];
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      if (!this.#accepting) {
        ws.close(CLOSE.SHUTDOWN.code, CLOSE.SHUTDOWN.text);
        return;
      }
      this.#channels.add(new DeviceChannel(ws, session, this.#ctx));
      this.#ctx.metrics.connections.inc();
    });
  }

  #sweep(): void {
    const now = Date.now();
    for (const channel of this.#channels) channel.checkDeadlines(now);
  }

  /**
   * Closes every connection but keeps accepting (the edge lost its lease, so presence may already
   * say its devices are offline): they reconnect, here or elsewhere, and are online afresh.
   */
  closeAll(): void {
    this.#ctx.log.warn({ connections: this.#channels.size }, 'closing every device connection');
    for (const channel of [...this.#channels]) channel.close(CLOSE.LEASE_LOST);
  }

  /**
   * Stops accepting, then closes every connection ("edge shutting down", 1001) spread over `spreadMs`
   * so that the fleet does not reconnect to the other edges in one burst (Mender's lesson), waits for
   * the offline presence updates, and cuts off devices that do not complete the close handshake.
   */
  async drain(spreadMs: number, graceMs = 2_000): Promise<void> {
    this.#accepting = false;
    const channels = [...this.#channels];
    this.#ctx.log.info({ connections: channels.length, spreadMs }, 'draining device connections');
    const ticks = Math.max(1, Math.min(channels.length, Math.floor(spreadMs / 10)));
    const perTick = Math.ceil(channels.length / ticks);
    for (let i = 0; i < channels.length; i += perTick) {
      for (const channel of channels.slice(i, i + perTick)) channel.close(CLOSE.SHUTDOWN);
      if (i + perTick < channels.length) await sleep(spreadMs / ticks);
    }
    await Promise.allSettled([...this.#inFlight]);
    const deadline = Date.now() + graceMs;
    while (this.#channels.size > 0 && Date.now() < deadline) await sleep(10);
    for (const channel of this.#channels) channel.terminate(CLOSE.SHUTDOWN);
    clearInterval(this.#sweeper);
  }
}

/** Work gathered during one event-loop turn, run together in the next `setImmediate`. */
class TurnQueue {
  #work: Array<() => void> = [];

  add(work: () => void): void {
    if (this.#work.length === 0) setImmediate(() => this.#run());
    this.#work.push(work);
  }

  #run(): void {
    const work = this.#work;
    this.#work = [];
    for (const run of work) run();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
