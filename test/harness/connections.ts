import { SELF, env } from "cloudflare:test";
import OpenAI from "openai";
import { api, SECRET, TERAPI } from "./api";
import { waitFor } from "./wait";
import type { RequestLog } from "../simulator/state.ts";

/** Shared by Worker tests: a simulator key, an integration, a connection, an SDK client on the proxy. */

export type Limit = { limit: number; window_ms: number };

export async function sim<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${env.OPENAI_BASE_URL}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`simulator ${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** A model's (or family's) own limits on a simulator key; `members` share its budget. */
export type SimModelLimits = { requests?: Limit; tokens?: Limit; requests_per_day?: Limit; tokens_per_day?: Limit; members?: string[] };

/** The endpoint buckets terapi's connection check and syncs are charged to. */
export const CONNECTION_ENDPOINTS = ["/v1/models", "/v1/organization", "/v1/files", "/v1/batches", "/v1/fine_tuning", "/v1/vector_stores"];

/**
 * One budget for a whole key, as the simulator kept before it had per-model limits: `model`'s bucket
 * with these limits, shared by every endpoint the connection calls.
 */
export const oneBudget = (model: string, limits: SimModelLimits): Record<string, SimModelLimits> => ({
  [model]: { ...limits, members: CONNECTION_ENDPOINTS },
});

/** A fresh simulator key, so tests never share limits, faults or logs. */
export async function simKey(
  opts: { requests?: Limit; tokens?: Limit; models?: Record<string, SimModelLimits>; chars_per_token?: number; kind?: string; key?: string } = {},
): Promise<string> {
  const { key } = await sim<{ key: string }>("POST", "/__sim/keys", opts);
  return key;
}

/** One upstream request as the simulator logged it. */
export type SimRequest = RequestLog;

export const simRequests = (key: string) => sim<SimRequest[]>("GET", `/__sim/requests?key=${encodeURIComponent(key)}`);
export const simClearLog = (key: string) => sim("DELETE", `/__sim/requests?key=${encodeURIComponent(key)}`);
export const simFault = (fault: { key: string; count: number; status?: number; latency_ms?: number; drop?: string; method?: string; path_prefix?: string }) =>
  sim("POST", "/__sim/faults", fault);
/** 429 counts: for the whole key, and per limit bucket. */
export type SimRateLimited = { total: number; windows_with_429: number; max_429_in_one_window: number };
export type SimBucketStats = {
  requests: number;
  rate_limited: SimRateLimited & { by_kind: Record<"requests" | "tokens" | "requests_per_day" | "tokens_per_day", number> };
  tokens_charged: number;
};
export const simStats = (key: string) =>
  sim<{ requests: number; by_status: Record<string, number>; rate_limited: SimRateLimited; buckets: Record<string, SimBucketStats> }>(
    "GET",
    `/__sim/stats?key=${encodeURIComponent(key)}`,
  );

let counter = 0;
const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

export type Tenant = {
  providerConfigKey: string;
  connectionId: string;
  apiKey: string;
  headers: Record<string, string>;
  client: OpenAI;
};

/**
 * Waits until the connection's first sync runs (started when it was created)
 * are over, so the simulator's log from here on holds only what a test sends.
 */
export async function settleSyncs(t: Tenant): Promise<void> {
  const path = `/sync/status?provider_config_key=${encodeURIComponent(t.providerConfigKey)}&connection_id=${encodeURIComponent(t.connectionId)}`;
  await waitFor(
    async () => {
      const res = await api<{ syncs: { status: string }[] }>("GET", path);
      // No sync routes (or none for this provider): nothing to wait for.
      if (res.status === 404) return true;
      return res.body.syncs.every((s) => s.status !== "STOPPED" && s.status !== "RUNNING");
    },
    "the connection's first syncs",
    15_000,
  );
}

/**
 * An integration and a connection on `apiKey`, through the API, and an SDK
 * client on the proxy. Waits for the connection's first syncs so that faults,
 * request counts and rate limits a test sets up are met only by what it sends.
 */
export async function createTenant(
  apiKey: string,
  config: { organization_id?: string; project_id?: string } = {},
  opts: { settle?: boolean } = {},
): Promise<Tenant> {
  const providerConfigKey = unique("openai");
  const connectionId = unique("tenant");
  const integ = await api("POST", "/integrations", { unique_key: providerConfigKey, provider: "openai" });
  if (integ.status !== 201) throw new Error(`POST /integrations: ${integ.status} ${integ.text}`);
  const conn = await api("POST", "/connections", {
    provider_config_key: providerConfigKey,
    connection_id: connectionId,
    credentials: { type: "API_KEY", apiKey },
    connection_config: config,
  });
  if (conn.status !== 201) throw new Error(`POST /connections: ${conn.status} ${conn.text}`);
  const headers = { "Connection-Id": connectionId, "Provider-Config-Key": providerConfigKey };
  const client = new OpenAI({
    baseURL: `${TERAPI}/proxy/v1`,
    apiKey: SECRET,
    defaultHeaders: headers,
    // terapi retries; the SDK must not hide what terapi did.
    maxRetries: 0,
    fetch: (url, init) => SELF.fetch(url as string, init as RequestInit),
  });
  const tenant = { providerConfigKey, connectionId, apiKey, headers, client };
  if (opts.settle !== false) await settleSyncs(tenant);
  return tenant;
}

/** A raw call through the proxy with a tenant's headers. */
export function proxyFetch(t: Tenant, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${SECRET}`);
  for (const [k, v] of Object.entries(t.headers)) headers.set(k, v);
  return SELF.fetch(`${TERAPI}/proxy${path}`, { ...init, headers });
}

export async function sha256Hex(bytes: ArrayBuffer | Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A raw request to terapi with exactly these headers. */
export function SELF_URL(path: string, headers: Record<string, string>, init: RequestInit = {}): Promise<Response> {
  return SELF.fetch(`${TERAPI}${path}`, { ...init, headers });
}
