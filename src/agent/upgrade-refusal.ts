// The server answered the WebSocket upgrade with an HTTP status instead of 101: what `rmagent status` says and how
// long to wait. 429 and 503 with Retry-After are the server's overload answer (this address holds too many
// connections or opened too many in the last minute, or the node is full or stopping): the agent waits at least that long (capped by backoffMaxMs, as for
// retryAfterMs in error frames, since nothing here is signed). Pure.

export interface UpgradeRefusal {
  code: 'SERVER_UNREACHABLE';
  message: string;
  retryAfterMs?: number;
}

/** Retry-After: delay-seconds or an HTTP-date (RFC 9110 10.2.3); undefined when absent or not understood. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d{1,9}$/.test(text)) return Number(text) * 1000;
  // IMF-fixdate only (what servers send); Date.parse alone would take "-5" for a year.
  if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

export function decideUpgradeRefusal(statusCode: number, headers: Record<string, string | string[] | undefined>, now: number): UpgradeRefusal {
  const header = headers['retry-after'];
  const wait = retryAfterMs(Array.isArray(header) ? header[0] : header, now);
  const after = wait === undefined ? '' : `; it asked to retry after ${Math.round(wait / 1000)} s`;
  const why =
    statusCode === 429 ? 'this address holds or opens too many connections (HTTP 429)'
      : statusCode === 503 ? 'the server is overloaded, full or stopping (HTTP 503)'
        : `HTTP ${statusCode} instead of switching to WebSocket (check the server URL path and any proxy in between)`;
  return { code: 'SERVER_UNREACHABLE', message: `the server refused the connection: ${why}${after}`, ...(wait === undefined ? {} : { retryAfterMs: wait }) };
}
