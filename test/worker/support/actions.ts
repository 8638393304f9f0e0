import { SELF } from "cloudflare:test";
import { auth, createTenant, sha256Hex, sim, simRequests, TERAPI, type SimRequest, type Tenant } from "../../harness/connections";

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

/**
 * Waits until the connection's first sync runs (started when it was created)
 * are over, so the simulator's log from here on holds only what a test sends.
 */
export async function settleSyncs(t: Tenant): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const res = await SELF.fetch(
      `${TERAPI}/sync/status?provider_config_key=${encodeURIComponent(t.providerConfigKey)}&connection_id=${encodeURIComponent(t.connectionId)}`,
      { headers: auth },
    );
    // No sync routes (or none for this provider): nothing to wait for.
    if (res.status === 404) return;
    const { syncs } = (await res.json()) as { syncs: { status: string }[] };
    if (syncs.every((s) => s.status !== "STOPPED" && s.status !== "RUNNING")) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("syncs never settled");
}

/** A tenant on a fresh slow key whose first syncs are done. */
export async function quietTenant(): Promise<{ key: string; t: Tenant }> {
  const key = await slowKey();
  const t = await createTenant(key);
  await settleSyncs(t);
  return { key, t };
}
