import { env, evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { connectionObject } from "../../src/bindings/stubs";
import type { OperationLog } from "../../src/logs/types";
import type { JobView } from "../../src/proxy/async";
import { auth, TERAPI } from "../harness/api";
import { waitFor } from "../harness/wait";
import { createTenant, oneBudget, proxyFetch, simKey, simRequests, type Tenant } from "../harness/connections";
import { crashMidCall } from "../harness/crash";
import { SELF } from "cloudflare:test";

const getJob = async (statusUrl: string): Promise<JobView> => {
  const res = await SELF.fetch(statusUrl, { headers: auth });
  expect(res.status).toBe(200);
  return (await res.json()) as JobView;
};

const until = (statusUrl: string, ok: (j: JobView) => boolean): Promise<JobView> =>
  waitFor(async () => {
    const job = await getJob(statusUrl);
    return ok(job) ? job : undefined;
  }, "the job to reach the expected state");

const enqueue = (t: Tenant, idem?: string, body = JSON.stringify({ model: "text-embedding-3-small", input: "later" })) =>
  proxyFetch(t, "/v1/embeddings", {
    method: "POST",
    headers: { async: "true", "content-type": "application/json", ...(idem ? { "idempotency-key": idem } : {}) },
    body,
  });

afterEach(() => {
  vi.useRealTimers();
});

describe("Async: true", () => {
  it("runs in the background and its result is at the status URL", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    const res = await enqueue(t);
    expect(res.status).toBe(202);
    const { id, status_url } = (await res.json()) as { id: string; status_url: string };
    expect(id).toMatch(/^preq_[0-9a-f]{64}_/);
    expect(status_url).toBe(`${TERAPI}/proxy/requests/${id}`);
    const job = await until(status_url, (j) => j.status === "completed");
    expect(job.response?.status).toBe(200);
    expect(JSON.parse(job.response!.body)).toMatchObject({ object: "list" });
    expect(job.response?.headers["x-request-id"]).toMatch(/^req_/);

    // The run is in the connection's operation log, with the upstream request id.
    const res2 = await SELF.fetch(`${TERAPI}/logs?provider_config_key=${t.providerConfigKey}&connection_id=${t.connectionId}&type=proxy`, { headers: auth });
    const { logs } = (await res2.json()) as { logs: OperationLog[] };
    const line = logs.find((l) => l.detail?.startsWith(`async ${id}`));
    expect(line).toMatchObject({ status: "success", http_status: 200, method: "POST", path: "/v1/embeddings" });
    expect(line?.request_id).toBe(job.response?.headers["x-request-id"]);
  });

  it("a key blocked for two minutes: 202, the job waits on the alarm for the reset, survives eviction, then replays", async () => {
    // The connection's first syncs run on a free key; then the key allows one request per two
    // minutes, and that one is spent, so the job itself meets the 429 (nothing else competes).
    const key = await simKey();
    const t = await createTenant(key);
    await simKey({
      key,
      requests: { limit: 1, window_ms: 120_000 },
      models: oneBudget("text-embedding-3-small", { requests: { limit: 1, window_ms: 120_000 } }),
    });
    await fetch(`${env.OPENAI_BASE_URL}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    const res = await enqueue(t, "idem-blocked");
    expect(res.status).toBe(202);
    const { id, status_url } = (await res.json()) as { id: string; status_url: string };

    const waiting = await until(status_url, (j) => j.status === "waiting");
    const dueAt = Date.parse(waiting.next_attempt_at!);
    // The reset the provider named (≈ 2 minutes), not a guess.
    expect(dueAt - Date.now()).toBeGreaterThan(100_000);
    expect(dueAt - Date.now()).toBeLessThanOrEqual(121_000);
    const upstreamBefore = (await simRequests(key)).filter((r) => r.path === "/v1/embeddings");
    expect(upstreamBefore.map((r) => r.status)).toEqual([429]);

    // Same Idempotency-Key → same job, nothing new stored or sent.
    const again = await enqueue(t, "idem-blocked");
    expect(((await again.json()) as { id: string }).id).toBe(id);

    const stub = connectionObject(env, t.providerConfigKey, t.connectionId);
    const alarmAt = await stub.alarmAt();
    expect(alarmAt).toBe(dueAt);

    // Evicted between enqueue and alarm: the job is in SQLite.
    await evictDurableObject(stub);
    expect((await getJob(status_url)).status).toBe("waiting");

    // An alarm before the reset changes nothing and calls nobody.
    await runDurableObjectAlarm(stub);
    expect((await simRequests(key)).filter((r) => r.path === "/v1/embeddings")).toHaveLength(1);

    // Two minutes pass: the provider's window and the clock move to the reset.
    await simKey({ key, requests: { limit: 1, window_ms: 1 }, models: oneBudget("text-embedding-3-small", { requests: { limit: 1, window_ms: 1 } }) });
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(dueAt + 10);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    vi.useRealTimers();

    const done = await getJob(status_url);
    expect(done.status).toBe("completed");
    expect(done.response?.status).toBe(200);
    expect(done.attempts).toBe(2);
    const upstream = (await simRequests(key)).filter((r) => r.path === "/v1/embeddings");
    expect(upstream.map((r) => r.status)).toEqual([429, 200]);
  });

  it("the caller's Idempotency-Key is kept with the job and sent upstream with it", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    const res = await enqueue(t, "idem-forwarded");
    const { status_url } = (await res.json()) as { status_url: string };
    expect((await until(status_url, (j) => j.status === "completed")).attempts).toBe(1);
    const sent = (await simRequests(key)).filter((r) => r.path === "/v1/embeddings");
    expect(sent.map((r) => r.headers["idempotency-key"])).toEqual(["idem-forwarded"]);
  });

  const embeddingJob = (headers: [string, string][], opts: { idempotencyKey: string | null; backoffAllowed: boolean; retries: number }) => ({
    kind: "proxy" as const,
    method: "POST",
    path: "/v1/embeddings",
    query: "",
    headers: [["content-type", "application/json"], ...headers] as [string, string][],
    body: new TextEncoder().encode(JSON.stringify({ model: "text-embedding-3-small", input: "crash" })).buffer as ArrayBuffer,
    ...opts,
  });

  it("a POST in flight at a crash, sent without Idempotency-Key or Retries, is not sent again: it ends interrupted, its attempt counted", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    const id = await crashMidCall(t, embeddingJob([], { idempotencyKey: null, backoffAllowed: false, retries: 2 }));
    const job = await until(`${TERAPI}/proxy/requests/${id}`, (j) => j.status !== "queued" && j.status !== "running");
    expect(job).toMatchObject({ status: "interrupted", attempts: 1, error: { code: "interrupted" }, response: null, next_attempt_at: null });
    expect((await simRequests(key)).filter((r) => r.path === "/v1/embeddings")).toHaveLength(0);
  });

  it("a POST in flight at a crash with Idempotency-Key is sent again, with the key, and both attempts are counted", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    const id = await crashMidCall(t, embeddingJob([["idempotency-key", "idem-crash"]], { idempotencyKey: "idem-crash", backoffAllowed: true, retries: 2 }));
    const job = await until(`${TERAPI}/proxy/requests/${id}`, (j) => j.status !== "queued" && j.status !== "running");
    expect(job).toMatchObject({ status: "completed", attempts: 2, response: { status: 200 } });
    const sent = (await simRequests(key)).filter((r) => r.path === "/v1/embeddings");
    expect(sent.map((r) => r.headers["idempotency-key"])).toEqual(["idem-crash"]);
  });

  it("a crash mid-call with Retries: 0 leaves no retry for a re-send: interrupted", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    const id = await crashMidCall(t, embeddingJob([], { idempotencyKey: null, backoffAllowed: true, retries: 0 }));
    const job = await until(`${TERAPI}/proxy/requests/${id}`, (j) => j.status !== "queued" && j.status !== "running");
    expect(job).toMatchObject({ status: "interrupted", attempts: 1 });
    expect((await simRequests(key)).filter((r) => r.path === "/v1/embeddings")).toHaveLength(0);
  });

  it("unknown ids are 404; async bodies over 1 MB are 413", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    for (const id of ["nope", `preq_${"0".repeat(64)}_abcdef0123456789`]) {
      const res = await SELF.fetch(`${TERAPI}/proxy/requests/${id}`, { headers: auth });
      expect(res.status).toBe(404);
    }
    const big = await enqueue(t, undefined, "x".repeat(1024 * 1024 + 1));
    expect(big.status).toBe(413);
  });
});
