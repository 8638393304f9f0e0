import { SELF } from "cloudflare:test";
import { auth, TERAPI } from "./api";
import { createTenant, sha256Hex, sim, simRequests, type SimRequest, type Tenant } from "./connections";

/** `POST /action/trigger` for a tenant; extra headers (X-Async, X-Max-Retries) as given. */
export function trigger(t: Tenant, action_name: string, input: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(`${TERAPI}/action/trigger`, {
    method: "POST",
    headers: { ...auth, ...t.headers, "content-type": "application/json", ...headers },
    body: JSON.stringify({ action_name, input }),
  });
}

/** Triggers and expects a 200; the output. */
export async function run<T = Record<string, unknown>>(t: Tenant, action: string, input: unknown): Promise<T> {
  const res = await trigger(t, action, input);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${action}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** The upstream requests of a key after `since` of them (the connection check comes first). */
export async function upstreamSince(key: string, since: number): Promise<SimRequest[]> {
  return (await simRequests(key)).slice(since);
}

export const jsonSha = (value: unknown) => sha256Hex(new TextEncoder().encode(JSON.stringify(value)));

/** A simulator key whose batches and fine-tuning jobs stay where they are (no timer moves them on). */
export async function slowKey(): Promise<string> {
  const { key } = await sim<{ key: string }>("POST", "/__sim/keys", { batch_step_ms: 3_600_000 });
  return key;
}

/** A tenant on a fresh slow key whose first syncs are done (createTenant waits for them). */
export async function quietTenant(): Promise<{ key: string; t: Tenant }> {
  const key = await slowKey();
  const t = await createTenant(key);
  return { key, t };
}
