import { SELF } from "cloudflare:test";
import { TEST_SECRET_KEYS } from "./constants";

/** The Worker tests' one way to call terapi's API, and their one way to wait for something. */

/** The origin Worker tests send to (SELF): what TERAPI_PUBLIC_URL says in TEST_BINDINGS. */
export const TERAPI = "http://terapi.test";
export const SECRET = TEST_SECRET_KEYS[0];
export const auth = { authorization: `Bearer ${SECRET}` };

export type Json = Record<string, unknown>;
export type ApiResult<T> = { status: number; body: T; text: string; headers: Headers };

/**
 * One API call through the deployed Worker (SELF) with the secret key (and `headers`, which win):
 * JSON in, the status, the parsed body (null when empty), its text and the headers out.
 */
export async function api<T = Json>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResult<T>> {
  const res = await SELF.fetch(`${TERAPI}${path}`, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T, text, headers: res.headers };
}

/**
 * Polls `check` until it returns a truthy value. For what the
 * Worker does on its own time (a waitUntil, an immediate alarm); a test drives alarms it can drive
 * (runDurableObjectAlarm) instead of waiting for them. `timeoutMs` is a deadline against hanging,
 * not an assertion on speed.
 */
export async function waitFor<T>(check: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 8_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
