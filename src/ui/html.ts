import type { Child } from "hono/jsx";

/**
 * Headers for terapi's own HTML pages (connect, dashboard): no scripts at all,
 * styles only with this response's nonce, never framed, forms post only here,
 * no Referer (a connect link carries its token), never cached.
 */
function htmlHeaders(nonce: string): Record<string, string> {
  return {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": [
      "default-src 'none'",
      `style-src 'nonce-${nonce}'`,
      "img-src 'self' data:",
      "form-action 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ].join("; "),
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
    "cache-control": "no-store",
  };
}

const newNonce = () => crypto.randomUUID().replaceAll("-", "");

/** Renders a page with a fresh nonce and the headers above. */
export async function htmlResponse(status: number, render: (nonce: string) => Child, extra: Record<string, string> = {}): Promise<Response> {
  const nonce = newNonce();
  const body = "<!doctype html>" + (await render(nonce))?.toString();
  return new Response(body, { status, headers: { ...htmlHeaders(nonce), ...extra } });
}
