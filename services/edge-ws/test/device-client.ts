/**
 * A WebSocket device for the tests: the real `ws` client speaking ProtoMsg frames, with a queue of
 * received frames to wait on.
 */
import {
  ControlAcceptBody,
  ControlOpenBody,
  decodePayload,
  decodeProtoMsg,
  encodePayload,
  encodeProtoMsg,
  MSG_TYPE,
  PROTO,
  type ProtoMsg,
} from '@fleetwire/protocol';
import { WebSocket } from 'ws';

export const SUBPROTOCOL = 'protomsg/msgpack';

export interface HttpAnswer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

export async function postJson(url: string, body: unknown): Promise<HttpAnswer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

export interface ConnectOptions {
  token?: string;
  /** Sent as `Cookie:` instead of the bearer header. */
  cookie?: string;
  protocols?: string[];
  path?: string;
}

/** The HTTP answer to an upgrade the edge refused. */
export interface Refusal {
  status: number;
  body: Record<string, unknown>;
}

export class DeviceClient {
  readonly ws: WebSocket;
  readonly frames: ProtoMsg[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters = new Set<() => void>();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer) => {
      this.frames.push(decodeProtoMsg(data));
      for (const wake of this.#waiters) wake();
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  /** Connects, resolving with the client or with the edge's HTTP refusal. */
  static attempt(baseUrl: string, opts: ConnectOptions = {}): Promise<DeviceClient | Refusal> {
    const url = `${baseUrl.replace(/^http/, 'ws')}${opts.path ?? '/device/v1/connect'}`;
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.cookie) headers.cookie = opts.cookie;
    const protocols = opts.protocols ?? [SUBPROTOCOL];
    // The ws client refuses subprotocol names with a '/', so the offer goes as a plain header ...
    if (protocols.length > 0) headers['sec-websocket-protocol'] = protocols.join(', ');
    const ws = new WebSocket(url, { headers });
    return new Promise((resolve, reject) => {
      ws.once('upgrade', (res) => {
        // ... and the answer is checked here and hidden from ws, which would refuse it too.
        const chosen = res.headers['sec-websocket-protocol'];
        delete res.headers['sec-websocket-protocol'];
        if (chosen !== SUBPROTOCOL) reject(new Error(`edge chose subprotocol ${chosen}`));
      });
      ws.once('open', () => resolve(new DeviceClient(ws)));
      ws.once('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString() || '{}'),
          });
          ws.terminate();
        });
      });
      ws.once('error', reject);
    });
  }

  static async connect(baseUrl: string, opts: ConnectOptions = {}): Promise<DeviceClient> {
    const result = await DeviceClient.attempt(baseUrl, opts);
    if (!(result instanceof DeviceClient)) throw new Error(`upgrade refused: ${JSON.stringify(result)}`);
    return result;
  }

  send(msg: ProtoMsg): void {
    this.ws.send(encodeProtoMsg(msg));
  }

  /** control/open, then the edge's control/accept. */
  async open(versions = [1]): Promise<{ accept: ProtoMsg; body: ControlAcceptBody }> {
    this.send({
      hdr: { proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.OPEN },
      body: encodePayload(ControlOpenBody, { versions }),
    });
    const accept = await this.next(
      (m) => m.hdr.proto === PROTO.CONTROL && m.hdr.typ !== MSG_TYPE.CONTROL.PONG,
    );
    if (accept.hdr.typ !== MSG_TYPE.CONTROL.ACCEPT) throw new Error(`expected accept, got ${accept.hdr.typ}`);
    return { accept, body: decodePayload(accept.body, ControlAcceptBody) };
  }

  /** The first received frame matching `match` (taken off the queue), waiting up to `timeoutMs`. */
  next(match: (m: ProtoMsg) => boolean = () => true, timeoutMs = 5_000): Promise<ProtoMsg> {
    const take = () => {
      const i = this.frames.findIndex(match);
      return i < 0 ? undefined : this.frames.splice(i, 1)[0];
    };
    const found = take();
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const wake = () => {
        const hit = take();
        if (!hit) return;
        done();
        resolve(hit);
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `no matching frame within ${timeoutMs} ms; queued: ${JSON.stringify(this.frames.map((f) => f.hdr))}`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
      };
      this.#waiters.add(wake);
    });
  }

  nextControl(typ: string, timeoutMs?: number): Promise<ProtoMsg> {
    return this.next((m) => m.hdr.proto === PROTO.CONTROL && m.hdr.typ === typ, timeoutMs);
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close(1000);
    return this.closed;
  }
}
