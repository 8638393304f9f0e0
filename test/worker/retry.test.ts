import { afterEach, describe, expect, it } from "vitest";
import { getProvider } from "../../src/providers/catalog";
import type { RetryRules } from "../../src/providers/types";
import { createTenant, proxyFetch, simFault, simKey, simRequests, simStats } from "../harness/connections";

const count = async (key: string, path: string) => (await simRequests(key)).filter((r) => r.path === path).length;

describe("retries against the simulator", () => {
  it("a GET that meets two 503s succeeds", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    await simFault({ key, count: 2, status: 503, path_prefix: "/v1/models" });
    const res = await proxyFetch(t, "/v1/models");
    expect(res.status).toBe(200);
    const log = (await simRequests(key)).filter((r) => r.path === "/v1/models").slice(-3);
    expect(log.map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it("a POST that meets a 503 is not retried without Idempotency-Key", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    await simFault({ key, count: 1, status: 503, path_prefix: "/v1/chat/completions" });
    const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
    const res = await proxyFetch(t, "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(res.status).toBe(503);
    expect(await count(key, "/v1/chat/completions")).toBe(1);
  });

  it("a POST with Idempotency-Key is retried after a 503, with the same body", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    await simFault({ key, count: 1, status: 503, path_prefix: "/v1/chat/completions" });
    const res = await t.client.chat.completions
      .create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }, { headers: { "Idempotency-Key": "idem-1" } })
      .withResponse();
    expect(res.response.status).toBe(200);
    const log = (await simRequests(key)).filter((r) => r.path === "/v1/chat/completions");
    expect(log.map((r) => r.status)).toEqual([503, 200]);
    expect(log[0].body_sha256).toBe(log[1].body_sha256);
    expect(log[1].headers["idempotency-key"]).toBe("idem-1");
  });

  it("Retries: 0 turns retries off; a bad Retries is a 400", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    await simFault({ key, count: 1, status: 503, path_prefix: "/v1/models" });
    const res = await proxyFetch(t, "/v1/models", { headers: { retries: "0" } });
    expect(res.status).toBe(503);
    const bad = await proxyFetch(t, "/v1/models", { headers: { retries: "11" } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: "invalid_retries" } });
  });

  it("insufficient_quota reaches the caller after exactly one upstream call", async () => {
    // The key passes the connection check, then its quota runs out.
    const key = await simKey();
    const t = await createTenant(key);
    await simKey({ key, kind: "quota" });
    const before = await count(key, "/v1/chat/completions");
    const err = await t.client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 429, code: "insufficient_quota" });
    expect((await count(key, "/v1/chat/completions")) - before).toBe(1);
  });

  it("401 is not retried", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    await simFault({ key, count: 1, status: 401, path_prefix: "/v1/models" });
    const before = await count(key, "/v1/models");
    const res = await proxyFetch(t, "/v1/models", { headers: { "retry-on": "401,503" } });
    expect(res.status).toBe(401);
    expect((await count(key, "/v1/models")) - before).toBe(1);
  });

  it("a network failure on an idempotent GET is retried; when it persists the caller gets 502", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    await simFault({ key, count: 1, drop: "connect", path_prefix: "/v1/models" });
    expect((await proxyFetch(t, "/v1/models")).status).toBe(200);
    await simFault({ key, count: 5, drop: "connect", path_prefix: "/v1/models" });
    const res = await proxyFetch(t, "/v1/models", { headers: { retries: "1" } });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ error: { code: "upstream_unreachable" } });
  });

  it("a 429 rate limit waits for the reset and then succeeds", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    await simFault({ key, count: 1, status: 429, path_prefix: "/v1/embeddings" });
    const started = Date.now();
    const res = await t.client.embeddings.create({ model: "text-embedding-3-small", input: "x" }).withResponse();
    expect(res.response.status).toBe(200);
    // The injected 429 says retry-after: 1.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect((await simStats(key)).by_status["429"]).toBe(1);
  });
});

describe("the bound on one call (the provider's maxWaitMs) covers its retries", () => {
  // Provider data, changed for these tests in this isolate (the Worker reads the same object): a
  // 1 s bound, and backoff delays under 1 ms so only the attempts' own durations matter.
  const rules = getProvider("openai")!.retry;
  const saved: RetryRules = { ...rules };
  const shortBound = () => Object.assign(rules, { maxWaitMs: 1_000, baseDelayMs: 1, maxDelayMs: 1 });
  afterEach(() => {
    Object.assign(rules, saved);
  });

  it("a slow 503 is not retried when another attempt as slow would end past the bound", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    shortBound();
    const before = await count(key, "/v1/models"); // the connection check and the first sync
    // Each answer takes 600 ms: a second attempt would end past 1 s. Before, it was sent anyway (backoff < time left).
    await simFault({ key, count: 6, status: 503, latency_ms: 600, path_prefix: "/v1/models" });
    const res = await proxyFetch(t, "/v1/models", { headers: { retries: "5" } });
    expect(res.status).toBe(503);
    expect((await count(key, "/v1/models")) - before).toBe(1);
  });

  it("a fast 503 is retried; a retry still unanswered at the bound is cut off with a 504", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    shortBound();
    const before = await count(key, "/v1/models"); // the connection check and the first sync
    await simFault({ key, count: 1, status: 503, path_prefix: "/v1/models" });
    await simFault({ key, count: 1, latency_ms: 5_000, path_prefix: "/v1/models" });
    const res = await proxyFetch(t, "/v1/models", { headers: { retries: "5" } });
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ error: { code: "upstream_timeout" } });
    expect((await count(key, "/v1/models")) - before).toBe(2);
  });

  it("a retry's answer whose stream lasts past the bound flows to its end: the cut-off applies to the headers only", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    shortBound();
    await simFault({ key, count: 1, status: 503, path_prefix: "/v1/chat/completions" });
    const body = JSON.stringify({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "Say hello in a few words." }] });
    const res = await proxyFetch(t, "/v1/chat/completions", {
      method: "POST",
      // 300 ms between chunks: the stream outlives the 1 s bound (and the retry's timer, left set after the headers).
      headers: { "content-type": "application/json", retries: "2", "x-sim-chunk-delay-ms": "300" },
      body,
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.match(/^data: /gm)?.length).toBeGreaterThanOrEqual(5);
    expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);
  });

  it("fast 503s are still retried as many times as asked within the bound", async () => {
    const key = await simKey();
    const t = await createTenant(key);
    shortBound();
    const before = await count(key, "/v1/models"); // the connection check and the first sync
    await simFault({ key, count: 3, status: 503, path_prefix: "/v1/models" });
    const res = await proxyFetch(t, "/v1/models", { headers: { retries: "5" } });
    expect(res.status).toBe(200);
    expect((await count(key, "/v1/models")) - before).toBe(4);
  });
});
