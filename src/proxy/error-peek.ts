import { type ErrorInfo, errorInfo } from "./retry-policy";

/** Error bodies larger than this are passed through unread. */
const PEEK_LIMIT = 64 * 1024;

/**
 * Reads a provider error body (small JSON only) to classify it, and gives back
 * a response carrying the very same bytes. Never called for 2xx.
 */
export async function peekError(res: Response): Promise<{ res: Response; info: ErrorInfo }> {
  const type = res.headers.get("content-type") ?? "";
  const length = Number(res.headers.get("content-length") ?? "0");
  if (!type.includes("json") || length > PEEK_LIMIT || !res.body) return { res, info: {} };
  const bytes = await res.arrayBuffer();
  let info: ErrorInfo = {};
  try {
    info = errorInfo(JSON.parse(new TextDecoder().decode(bytes)));
  } catch {
    // Not JSON after all: relay it untouched.
  }
  return { res: new Response(bytes, { status: res.status, statusText: res.statusText, headers: res.headers }), info };
}
