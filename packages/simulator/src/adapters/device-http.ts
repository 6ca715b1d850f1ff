/**
 * The two HTTP calls a gateway makes to edge-ws (docs/websocket-channel.md §2 and §5): session start
 * and log upload. Plain node:http with a shared keep-alive agent, so thousands of gateways starting
 * sessions reuse a few connections, and each request can leave from the gateway's source address.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream/promises';

export interface HttpTarget {
  /** edge-ws, e.g. http://127.0.0.1:8090 */
  baseUrl: URL;
  agent?: http.Agent;
  localAddress?: string;
  timeoutMs: number;
}

export interface SessionRequest {
  deviceId: string;
  credential?: string;
  provisioningKey?: string;
  identity?: Record<string, string>;
}

export interface DeviceSession {
  token: string;
  sessionId: string;
  deviceId: string;
  tenant: string;
  expiresAt: string;
  heartbeatMs: number;
  connectPath: string;
  /** Present only when this call provisioned the device. */
  credential?: string;
}

export interface UploadedLog {
  logId: string;
  sizeBytes: number;
  sha256: string;
}

/** The edge refused: an HTTP status with the contract's error body `{error, message, field?}`. */
export class EdgeRefusal extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;

  constructor(status: number, code: string, message: string, field?: string) {
    super(`${status} ${code}: ${message}`);
    this.name = 'EdgeRefusal';
    this.status = status;
    this.code = code;
    this.field = field;
  }

  /** 401/403: a credential, key or session problem, not a network one. */
  get isAuthRefusal(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

export const SESSIONS_PATH = '/device/v1/sessions';
export const LOGS_PATH = '/device/v1/logs';

export async function startSession(target: HttpTarget, body: SessionRequest): Promise<DeviceSession> {
  const payload = Buffer.from(JSON.stringify(body));
  const { status, text } = await send(
    target,
    SESSIONS_PATH,
    { 'content-type': 'application/json', 'content-length': String(payload.length) },
    async (req) => {
      req.end(payload);
    },
  );
  return sessionFromAnswer(status, text);
}

/** The session in a 200/201 answer to a session start; an EdgeRefusal for anything else. */
export function sessionFromAnswer(status: number, text: string): DeviceSession {
  const json = parseJson(text);
  if (status !== 201 && status !== 200) throw refusal(status, json, text);
  const session = json as Partial<DeviceSession> | undefined;
  if (typeof session?.token !== 'string')
    throw new EdgeRefusal(status, 'bad_response', 'no token in the answer');
  return session as DeviceSession;
}

/** Streams `file` as the multipart field `file` (the seed's field name); the token goes as bearer. */
export async function uploadLog(
  target: HttpTarget,
  token: string,
  file: string,
  fileName: string,
): Promise<UploadedLog> {
  const boundary = `fwsim${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${fileName.replace(/"/g, '')}"\r\n` +
      'Content-Type: application/json\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const size = (await fs.promises.stat(file)).size;
  const { status, text } = await send(
    target,
    LOGS_PATH,
    {
      authorization: `Bearer ${token}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(head.length + size + tail.length),
    },
    async (req) => {
      req.write(head);
      await pipeline(fs.createReadStream(file), req, { end: false });
      req.end(tail);
    },
  );
  const json = parseJson(text);
  if (status !== 201 && status !== 200) throw refusal(status, json, text);
  return json as UploadedLog;
}

function send(
  target: HttpTarget,
  pathname: string,
  headers: http.OutgoingHttpHeaders,
  writeBody: (req: http.ClientRequest) => Promise<void>,
): Promise<{ status: number; text: string }> {
  const url = new URL(pathname, target.baseUrl);
  const request = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers,
      timeout: target.timeoutMs,
      ...(target.agent ? { agent: target.agent } : {}),
      ...(target.localAddress ? { localAddress: target.localAddress } : {}),
    });
    req.once('timeout', () =>
      req.destroy(new Error(`no answer from ${url.origin} within ${target.timeoutMs} ms`)),
    );
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.once('error', reject);
    });
    writeBody(req).catch((err: Error) => req.destroy(err));
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The refusal an HTTP answer describes (also used for a refused WebSocket upgrade). */
export function refusalOf(status: number, text: string): EdgeRefusal {
  return refusal(status, parseJson(text), text);
}

function refusal(status: number, json: unknown, text: string): EdgeRefusal {
  const body = (json ?? {}) as { error?: unknown; message?: unknown; field?: unknown };
  return new EdgeRefusal(
    status,
    typeof body.error === 'string' ? body.error : `http_${status}`,
    typeof body.message === 'string' ? body.message : text.slice(0, 200),
    typeof body.field === 'string' ? body.field : undefined,
  );
}
