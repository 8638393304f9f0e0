import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { connectionObject } from "../../src/bindings/stubs";
import { createTenant, oneBudget, simClearLog, simKey, simStats } from "../harness/connections";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("per-connection rate-limit coordination", () => {
  it("30 concurrent SDK calls on a 5-per-second key: no caller sees a 429, the provider at most one per window", async () => {
    // One budget for the whole key (as this test was written for): the connection's check and syncs share it.
    const key = await simKey({
      requests: { limit: 5, window_ms: 1_000 },
      models: oneBudget("text-embedding-3-small", { requests: { limit: 5, window_ms: 1_000 } }),
    });
    const t = await createTenant(key);
    // The connection check used one request of a window: start from a fresh one.
    await sleep(1_050);
    await simClearLog(key);

    const started = Date.now();
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => t.client.embeddings.create({ model: "text-embedding-3-small", input: `item ${i}` })),
    );
    const makespan = Date.now() - started;
    const failed = results.filter((r) => r.status === "rejected");
    expect(failed.map((r) => (r as PromiseRejectedResult).reason?.status)).toEqual([]);

    const stats = await simStats(key);
    console.log(`rate-limit: makespan ${makespan} ms, provider saw ${stats.requests} requests, 429s ${JSON.stringify(stats.rate_limited)}`);
    expect(stats.by_status["200"]).toBe(30);
    expect(stats.rate_limited.max_429_in_one_window).toBeLessThanOrEqual(1);
    // How close the makespan comes to the ideal (6 windows of 5: the last batch starts 5 s after the first)
    // is a speed figure: `npm run bench` measures it (the rate-limit scenario), a unit test does not bound it.
  });

  it("far from the limit, requests go straight upstream: the connection's object is never asked", async () => {
    const key = await simKey({ requests: { limit: 10_000, window_ms: 60_000 } });
    const t = await createTenant(key);
    for (let i = 0; i < 5; i++) await t.client.models.list();
    await Promise.all(Array.from({ length: 20 }, () => t.client.models.list()));
    const state = await connectionObject(env, t.providerConfigKey, t.connectionId).limiterState();
    // The connection's syncs use the object's limiter from inside; live proxy calls never asked it.
    expect(state.edgeAcquires).toBe(0);
  });

  it("after a 429 every request of the connection waits for the same reset", async () => {
    const key = await simKey({ requests: { limit: 3, window_ms: 1_500 } });
    const t = await createTenant(key);
    await sleep(1_600);
    await simClearLog(key);
    const results = await Promise.allSettled(Array.from({ length: 9 }, () => t.client.models.list()));
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    const stats = await simStats(key);
    expect(stats.rate_limited.max_429_in_one_window).toBeLessThanOrEqual(1);
  });
});
