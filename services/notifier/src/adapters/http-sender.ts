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
 *
 * A kept-alive connection the host closed while idle may be picked for a request at that very moment:
 * the request then dies with ECONNRESET (or EPIPE) before the host read it. That request is sent once
 * more on a connection of its own, as Node's documentation advises (`request.reusedSocket`), instead of
 * costing the delivery an attempt (its last one, maybe) for a race of the transport.
 */
export function postWebhook(req: WebhookRequest): Promise<AttemptResult> {
  const url = URL.parse(req.url);
  const invalid = url === null ? 'invalid URL' : unsupportedProtocol(url);
  if (url === null || invalid !== undefined) {
    return Promise.resolve({ ok: false, error: invalid ?? 'invalid URL', permanent: true });
  }
  const body = Buffer.from(req.body);
  const deadline = performance.now() + req.timeoutMs;
  return postOnce(url, req, body, deadline, true).then((outcome) =>
    // On a connection of its own: the pool may hold more connections the host closed meanwhile.
    outcome.staleConnection
      ? postOnce(url, req, body, deadline, false).then((again) => again.result)
      : outcome.result,
  );
}

/** A request's result, and whether it died on a reused connection the host had closed. */
interface Outcome {
  result: AttemptResult;
  staleConnection: boolean;
}

const STALE_CONNECTION_ERRORS = new Set(['ECONNRESET', 'EPIPE']);

function postOnce(
  url: URL,
  req: WebhookRequest,
  body: Buffer,
  deadline: number,
  pooled: boolean,
): Promise<Outcome> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<Outcome>((resolve) => {
    let settled = false;
    const settle = (result: AttemptResult, staleConnection = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ result, staleConnection });
    };
    const request = client.request(url, {
      method: 'POST',
      agent: pooled ? agents[url.protocol as keyof typeof agents] : false,
      headers: { ...req.headers, 'content-length': String(body.length) },
    });
    const timer = setTimeout(
      () => {
        settle({ ok: false, error: `timeout after ${req.timeoutMs} ms`, permanent: false });
        request.destroy();
      },
      Math.max(0, deadline - performance.now()),
    );
    request.on('response', (res) => {
      res.resume();
      settle(resultOfStatus(res.statusCode ?? 0));
    });
    request.on('error', (err: Error & { code?: string }) => {
      const stale = request.reusedSocket && STALE_CONNECTION_ERRORS.has(err.code ?? '');
      settle(
        { ok: false, error: err.code ? `${err.message}: ${err.code}` : err.message, permanent: false },
        stale,
      );
    });
    request.end(body);
  });
}
