import net from 'node:net';
import { type Codec12Message, type Codec14Message, encodeCodec12, encodeLogin } from '@fleetwire/teltonika';
import { type ServerMessage, ServerStreamParser } from './wire.ts';

export type TrackerCommand = Codec12Message | Codec14Message;

/**
 * A Teltonika tracker as seen from the network, driven step by step: logs in, sends data frames,
 * reads the 1-byte login reply, the 4-byte record-count replies and Codec 12/14 commands. Used by
 * tests and the benchmark (the fleet simulator drives the same wire with SimulatedTracker); it
 * speaks bytes, so it can also send anything broken on purpose.
 */
export class TrackerClient {
  readonly socket: net.Socket;
  readonly imei: string;
  readonly #parser = new ServerStreamParser();
  #loginReply: ((accepted: boolean) => void) | undefined;
  #ackWaiters: Array<(count: number) => void> = [];
  readonly commands: TrackerCommand[] = [];
  #commandWaiters: Array<(cmd: TrackerCommand) => void> = [];
  /** Answers commands automatically when set (return undefined to stay silent). */
  autoReply: ((command: string) => string | undefined) | undefined;
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket, imei: string) {
    this.socket = socket;
    this.imei = imei;
    socket.on('data', (chunk) => this.#parser.push(chunk, (m) => this.#onMessage(m)));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static connect(opts: {
    port: number;
    imei: string;
    host?: string;
    localAddress?: string;
  }): Promise<TrackerClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({
        port: opts.port,
        host: opts.host ?? '127.0.0.1',
        localAddress: opts.localAddress,
      });
      socket.setNoDelay(true);
      socket.once('connect', () => resolve(new TrackerClient(socket, opts.imei)));
      socket.once('error', reject);
    });
  }

  /** Sends the IMEI login and resolves with the server's verdict. */
  login(timeoutMs = 5_000): Promise<boolean> {
    const reply = new Promise<boolean>((resolve) => {
      this.#loginReply = resolve;
    });
    this.#parser.expectLoginReply();
    this.socket.write(encodeLogin(this.imei));
    return withTimeout(reply, timeoutMs, 'login reply');
  }

  /** Sends a data frame and resolves with the record count the server acknowledges. */
  send(frame: Uint8Array, timeoutMs = 5_000): Promise<number> {
    const ack = this.nextAck(timeoutMs);
    this.socket.write(frame);
    return ack;
  }

  nextAck(timeoutMs = 5_000): Promise<number> {
    return waitFor(this.#ackWaiters, timeoutMs, 'record-count reply');
  }

  nextCommand(timeoutMs = 5_000): Promise<TrackerCommand> {
    const queued = this.commands.shift();
    if (queued) return Promise.resolve(queued);
    return waitFor(this.#commandWaiters, timeoutMs, 'command');
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  close(): Promise<void> {
    this.socket.end();
    return this.closed;
  }

  #onMessage(message: ServerMessage): void {
    switch (message.kind) {
      case 'login-reply': {
        const resolve = this.#loginReply;
        this.#loginReply = undefined;
        resolve?.(message.accepted);
        return;
      }
      case 'ack':
        this.#ackWaiters.shift()?.(message.count);
        return;
      case 'command':
        this.#onCommand(message.message);
        return;
      case 'garbage':
        return;
    }
  }

  #onCommand(cmd: TrackerCommand): void {
    const answer = this.autoReply?.(cmd.text);
    if (answer !== undefined) this.socket.write(encodeCodec12(answer, { type: 'response' }));
    const waiter = this.#commandWaiters.shift();
    if (waiter) waiter(cmd);
    else this.commands.push(cmd);
  }
}

/** Queues a waiter; one that times out leaves the queue, so it cannot swallow a later value. */
function waitFor<T>(queue: Array<(value: T) => void>, ms: number, what: string): Promise<T> {
  let waiter!: (value: T) => void;
  const p = new Promise<T>((resolve) => {
    waiter = resolve;
    queue.push(waiter);
  });
  return withTimeout(p, ms, what).catch((err: unknown) => {
    const i = queue.indexOf(waiter);
    if (i >= 0) queue.splice(i, 1);
    throw err;
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
