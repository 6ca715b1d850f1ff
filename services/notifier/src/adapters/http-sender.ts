import http from 'node:http';
import https from 'node:https';
import { type AttemptResult, resultOfStatus } from '../retry.ts';

export interface WebhookRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

/**
 * Keep-alive agents pool sockets per origin (host:port), so a busy host gets its POSTs on a few
 * reused connections instead of a TCP (and TLS) handshake each. node:http rather than fetch: fetch
 * costs several times the CPU per request (web streams, an AbortSignal timer, a Request object),
 * and a webhook needs none of it.
 */
const agents = {
  'http:': new http.Agent({ keepAlive: true, maxFreeSockets: 64 }),
  'https:': new https.Agent({ keepAlive: true, maxFreeSockets: 64 }),
} as const;

/** Only http(s) URLs are ever called; anything else is a permanent failure, not a retry. */
export function checkTargetUrl(url: string): string | undefined {
  const parsed = URL.parse(url);
  return parsed === null ? 'invalid URL' : unsupportedProtocol(parsed);
}

function unsupportedProtocol({ protocol }: URL): string | undefined {
  return protocol === 'http:' || protocol === 'https:' ? undefined : `unsupported protocol ${protocol}`;
}

/**
 * One POST. Redirects are not followed (a signed body should not travel somewhere the host did not
 * register), and the response body is discarded unread: only the status matters. `timeoutMs` bounds
 * the whole exchange up to the response's status line.
 */
export function postWebhook(req: WebhookRequest): Promise<AttemptResult> {
  const url = URL.parse(req.url);
  const invalid = url === null ? 'invalid URL' : unsupportedProtocol(url);
  if (url === null || invalid !== undefined) {
    return Promise.resolve({ ok: false, error: invalid ?? 'invalid URL', permanent: true });
  }
  const client = url.protocol === 'https:' ? https : http;
  const body = Buffer.from(req.body);
  return new Promise<AttemptResult>((resolve) => {
    let settled = false;
    const settle = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const request = client.request(url, {
      method: 'POST',
      agent: agents[url.protocol as keyof typeof agents],
      headers: { ...req.headers, 'content-length': String(body.length) },
    });
    const timer = setTimeout(() => {
      settle({ ok: false, error: `timeout after ${req.timeoutMs} ms`, permanent: false });
      request.destroy();
    }, req.timeoutMs);
    request.on('response', (res) => {
      res.resume();
      settle(resultOfStatus(res.statusCode ?? 0));
    });
    request.on('error', (err: Error & { code?: string }) => {
      settle({ ok: false, error: err.code ? `${err.message}: ${err.code}` : err.message, permanent: false });
    });
    request.end(body);
  });
}
