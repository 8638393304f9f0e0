import { SELF } from "cloudflare:test";
import { TEST_SECRET_KEYS } from "./constants";

/** The Worker tests' one way to call terapi's API (waiting for something: ./wait.ts). */

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
