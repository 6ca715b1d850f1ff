import { type AttemptResult, resultOfStatus } from '../retry.ts';

export interface WebhookRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

/** Only http(s) URLs are ever called; anything else is a permanent failure, not a retry. */
export function checkTargetUrl(url: string): string | undefined {
  if (!URL.canParse(url)) return 'invalid URL';
  const { protocol } = new URL(url);
  return protocol === 'http:' || protocol === 'https:' ? undefined : `unsupported protocol ${protocol}`;
}

/**
 * One POST. Redirects are not followed (a signed body should not travel somewhere the host did not
 * register), and the response body is discarded unread: only the status matters.
 */
export async function postWebhook(req: WebhookRequest): Promise<AttemptResult> {
  const invalid = checkTargetUrl(req.url);
  if (invalid) return { ok: false, error: invalid, permanent: true };
  try {
    const res = await fetch(req.url, {
      method: 'POST',
      body: req.body,
      headers: req.headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(req.timeoutMs),
    });
    await res.body?.cancel().catch(() => {});
    return resultOfStatus(res.status);
  } catch (err) {
    return { ok: false, error: describeFetchError(err, req.timeoutMs), permanent: false };
  }
}

function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `timeout after ${timeoutMs} ms`;
  const cause = e?.cause?.code ?? e?.cause?.message;
  return cause ? `${e.message}: ${cause}` : String(e?.message ?? err);
}
