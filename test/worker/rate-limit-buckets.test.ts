import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ActionRunView } from "../../src/actions/job";
import type { JobView } from "../../src/proxy/async";
import { trigger } from "../harness/actions";
import { auth, TERAPI } from "../harness/api";
import { waitFor } from "../harness/wait";
import { createTenant, proxyFetch, sim, type Tenant } from "../harness/connections";

/** The simulator's per-model limits (test/simulator, contract in SIM-LIMITS). */
type Limit = { limit: number; window_ms: number };
type ModelLimits = { requests?: Limit; tokens?: Limit; requests_per_day?: Limit; tokens_per_day?: Limit; members?: string[] };
type KeyConfig = { key?: string; requests?: Limit; tokens?: Limit; models?: Record<string, ModelLimits>; chars_per_token?: number };
type BucketStats = {
  requests: number;
  rate_limited: { total: number; windows_with_429: number; max_429_in_one_window: number; by_kind: Record<string, number> };
  tokens_charged: number;
};

const simKeyWith = async (config: KeyConfig) => (await sim<{ key: string }>("POST", "/__sim/keys", config)).key;
const bucketStats = async (key: string) => (await sim<{ buckets: Record<string, BucketStats> }>("GET", `/__sim/stats?key=${encodeURIComponent(key)}`)).buckets;

type LimitsView = {
  buckets: {
    bucket: string;
    requests: { limit: number | null; remaining: number | null; reset_at: string | null; blocked_until: string | null };
    tokens: { limit: number | null; remaining: number | null; reset_at: string | null; blocked_until: string | null };
    held: number;
    token_ratio: number;
  }[];
};
async function limits(t: Tenant): Promise<LimitsView> {
  const res = await SELF.fetch(
    `${TERAPI}/connections/${encodeURIComponent(t.connectionId)}/limits?provider_config_key=${encodeURIComponent(t.providerConfigKey)}`,
    {
      headers: auth,
    },
  );
  expect(res.status).toBe(200);
  return (await res.json()) as LimitsView;
}
/** How many live requests of a bucket had to ask the connection's object (were held or near a limit). */
async function coordinated(t: Tenant): Promise<Record<string, number>> {
  const { connectionObject } = await import("../../src/bindings/stubs");
  const state = await connectionObject(env, t.providerConfigKey, t.connectionId).limiterState();
  return Object.fromEntries(state.buckets.map((b) => [b.bucket, b.coordinated]));
}

const words = (chars: number) => "abcd".repeat(Math.ceil(chars / 4)).slice(0, chars);
/** A chat call whose up-front charge is ceil(chars/4) + max tokens at 4 characters per token. */
const chat = (t: Tenant, model: string, promptChars: number, maxTokens: number) =>
  t.client.chat.completions.create({ model, messages: [{ role: "user", content: words(promptChars) }], max_tokens: maxTokens });

const statusOf = (r: PromiseSettledResult<unknown>) => (r.status === "fulfilled" ? 200 : ((r.reason as { status?: number })?.status ?? "error"));

/** Polls until `ok` (a bound on polling, not a timed assertion). */
const poll = <T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> =>
  waitFor(
    async () => {
      const v = await read();
      return ok(v) ? { v } : undefined;
    },
    what,
    30_000,
  ).then(({ v }) => v);

describe("rate limits per model, for requests and tokens", () => {
  it("one key: 16 gpt-4o (4 per window) + 40 gpt-4o-mini + 20 embeddings at once: no caller 429, the fast models are never held behind gpt-4o", async () => {
    const key = await simKeyWith({
      requests: { limit: 10_000, window_ms: 1_000 },
      tokens: { limit: 10_000_000, window_ms: 1_000 },
      models: { "gpt-4o": { requests: { limit: 4, window_ms: 1_500 }, tokens: { limit: 10_000_000, window_ms: 1_500 } } },
    });
    const t = await createTenant(key);
    const done: string[] = [];
    const track = <T>(kind: string, p: Promise<T>) => p.then((v) => (done.push(kind), v));
    const results = await Promise.allSettled([
      ...Array.from({ length: 16 }, () => track("slow", chat(t, "gpt-4o", 40, 5))),
      ...Array.from({ length: 40 }, () => track("fast", chat(t, "gpt-4o-mini", 40, 5))),
      ...Array.from({ length: 20 }, (_, i) => track("fast", t.client.embeddings.create({ model: "text-embedding-3-small", input: `item ${i}` }))),
    ]);
    expect(results.map(statusOf).filter((s) => s !== 200)).toEqual([]);

    const buckets = await bucketStats(key);
    console.log(`buckets: ${JSON.stringify(Object.fromEntries(Object.entries(buckets).map(([b, s]) => [b, { requests: s.requests, rl: s.rate_limited }])))}`);
    for (const name of ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]) expect(buckets[name].rate_limited.max_429_in_one_window).toBeLessThanOrEqual(1);
    expect(buckets["gpt-4o-mini"].rate_limited.total).toBe(0);
    expect(buckets["text-embedding-3-small"].rate_limited.total).toBe(0);
    // The fast models never went through the connection's object; gpt-4o did.
    const asked = await coordinated(t);
    expect(asked["gpt-4o-mini"] ?? 0).toBe(0);
    expect(asked["text-embedding-3-small"] ?? 0).toBe(0);
    expect(asked["gpt-4o"]).toBeGreaterThan(0);
    // The connection's limits show every bucket, those that never needed the object too.
    const shown = await poll(
      () => limits(t),
      (l) => ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"].every((n) => l.buckets.some((b) => b.bucket === n)),
      "all buckets shown",
    );
    const miniShown = shown.buckets.find((b) => b.bucket === "gpt-4o-mini")!;
    expect(miniShown.requests.limit).toBe(10_000);
    expect(miniShown.tokens.limit).toBe(10_000_000);
    expect(miniShown.held).toBe(0);
    expect(shown.buckets.find((b) => b.bucket === "gpt-4o")!.requests.limit).toBe(4);
    // Every fast call was answered before gpt-4o's second window (its 5th call) was.
    const fifthSlow = done.map((k, i) => [k, i] as const).filter(([k]) => k === "slow")[4][1];
    expect(done.lastIndexOf("fast")).toBeLessThan(fifthSlow);
  });

  it("6,000 tokens per window, 30 chat requests of ~1,000 tokens at once: no caller 429, at most one upstream 429 per window", async () => {
    const key = await simKeyWith({ requests: { limit: 10_000, window_ms: 1_000 }, tokens: { limit: 6_000, window_ms: 1_000 } });
    const t = await createTenant(key);
    // 2,000 characters (500 tokens) + 500 max tokens = 1,000 tokens each.
    const results = await Promise.allSettled(Array.from({ length: 30 }, () => chat(t, "gpt-4o-mini", 2_000, 500)));
    expect(results.map(statusOf).filter((s) => s !== 200)).toEqual([]);
    const mini = (await bucketStats(key))["gpt-4o-mini"];
    console.log(`tokens scenario: ${JSON.stringify(mini)}`);
    expect(mini.tokens_charged).toBe(30_000);
    expect(mini.rate_limited.max_429_in_one_window).toBeLessThanOrEqual(1);
  });

  it("a tokens 429 on one model blocks that model's tokens only: another model's calls go at once", async () => {
    const key = await simKeyWith({
      requests: { limit: 10_000, window_ms: 1_000 },
      tokens: { limit: 10_000_000, window_ms: 1_000 },
      models: { "gpt-4o": { requests: { limit: 100, window_ms: 3_000 }, tokens: { limit: 2_000, window_ms: 3_000 } } },
    });
    const t = await createTenant(key);
    // Someone else (not through terapi) spends gpt-4o's tokens of this window.
    const spent = await fetch(`${env.OPENAI_BASE_URL}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: words(4_000) }], max_tokens: 800 }),
    });
    expect(spent.status).toBe(200);
    await spent.arrayBuffer();

    let slowDone = false;
    const slow = chat(t, "gpt-4o", 400, 500).then((r) => ((slowDone = true), r));
    // Its 429 is in: gpt-4o's tokens are blocked until their reset.
    const blocked = await poll(
      () => limits(t),
      (l) => l.buckets.some((b) => b.bucket === "gpt-4o" && b.tokens.blocked_until !== null),
      "gpt-4o blocked on tokens",
    );
    const gpt4o = blocked.buckets.find((b) => b.bucket === "gpt-4o")!;
    expect(gpt4o.requests.blocked_until).toBeNull();
    const fast = await Promise.all(Array.from({ length: 10 }, () => chat(t, "gpt-4o-mini", 400, 500)));
    expect(fast).toHaveLength(10);
    expect(slowDone).toBe(false);
    await slow;
    const buckets = await bucketStats(key);
    expect(buckets["gpt-4o"].rate_limited.by_kind.tokens).toBe(1);
    expect(buckets["gpt-4o-mini"].rate_limited.total).toBe(0);
    expect((await coordinated(t))["gpt-4o-mini"] ?? 0).toBe(0);
  });

  it("a per-day 429 is answered at once with Retry-After, later calls are answered by terapi, and an Async call waits for the reset", async () => {
    const key = await simKeyWith({
      requests: { limit: 10_000, window_ms: 1_000 },
      tokens: { limit: 10_000_000, window_ms: 1_000 },
      models: { "gpt-4o": { requests: { limit: 100, window_ms: 1_000 }, requests_per_day: { limit: 1, window_ms: 86_400_000 } } },
    });
    const t = await createTenant(key);
    const body = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 5 });
    const post = (headers: Record<string, string> = {}) =>
      proxyFetch(t, "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    expect((await post()).status).toBe(200);

    const limited = await post();
    expect(limited.status).toBe(429);
    // Hours away: nothing waited for it (one call never waits more than 30 s).
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(3_600);
    expect(((await limited.json()) as { error: { message: string } }).error.message).toMatch(/per day/);

    const again = await post();
    expect(again.status).toBe(429);
    expect(Number(again.headers.get("retry-after"))).toBeGreaterThan(3_600);
    await again.arrayBuffer();
    // The provider saw the first two only: terapi answered the third itself.
    expect((await bucketStats(key))["gpt-4o"].requests).toBe(2);
    // Another model is untouched.
    expect((await chat(t, "gpt-4o-mini", 40, 5)).choices).toHaveLength(1);

    const queued = await post({ async: "true" });
    expect(queued.status).toBe(202);
    const { status_url } = (await queued.json()) as { status_url: string };
    const job = await poll(
      async () => (await (await SELF.fetch(status_url, { headers: auth })).json()) as JobView,
      (j) => j.status === "waiting",
      "the async job waiting",
    );
    expect(Date.parse(job.next_attempt_at!) - Date.now()).toBeGreaterThan(3_600_000);
  });

  it("Async jobs and async actions draw from the same token budget: all complete, at most one upstream 429 per window", async () => {
    const key = await simKeyWith({ requests: { limit: 10_000, window_ms: 1_000 }, tokens: { limit: 3_000, window_ms: 1_000 } });
    const t = await createTenant(key);
    // The syncs drew from their endpoints' buckets through the same limiter.
    const before = await limits(t);
    expect(before.buckets.map((b) => b.bucket)).toContain("/v1/models");

    const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: words(2_000) }], max_tokens: 500 });
    const jobs = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const res = await proxyFetch(t, "/v1/chat/completions", { method: "POST", headers: { async: "true", "content-type": "application/json" }, body });
        expect(res.status).toBe(202);
        return ((await res.json()) as { status_url: string }).status_url;
      }),
    );
    const actions = await Promise.all(
      Array.from({ length: 3 }, async () => {
        const res = await trigger(
          t,
          "create-chat-completion",
          { model: "gpt-4o-mini", messages: [{ role: "user", content: words(2_000) }], max_tokens: 500 },
          { "X-Async": "true" },
        );
        expect(res.status).toBe(202);
        return ((await res.json()) as { statusUrl: string }).statusUrl;
      }),
    );
    // A live action at the same time shares the budget too.
    const live = await trigger(t, "create-chat-completion", { model: "gpt-4o-mini", messages: [{ role: "user", content: words(2_000) }], max_tokens: 500 });
    expect(live.status).toBe(200);
    for (const url of jobs) {
      const job = await poll(
        async () => (await (await SELF.fetch(url, { headers: auth })).json()) as JobView,
        (j) => j.status === "completed" || j.status === "failed",
        "job done",
      );
      expect(job.response?.status).toBe(200);
    }
    for (const url of actions) {
      const run = await poll(
        async () => (await (await SELF.fetch(`${TERAPI}${url}/run`, { headers: auth })).json()) as ActionRunView,
        (r) => r.status === "succeeded" || r.status === "failed",
        "action done",
      );
      expect(run.status).toBe("succeeded");
    }
    const mini = (await bucketStats(key))["gpt-4o-mini"];
    console.log(`async tokens: ${JSON.stringify(mini)}`);
    expect(mini.tokens_charged).toBe(10_000);
    expect(mini.rate_limited.max_429_in_one_window).toBeLessThanOrEqual(1);
  });

  it("the token estimate converges when the provider counts twice what terapi first estimates", async () => {
    // The provider counts 2 characters per token where terapi's estimator counts 4.
    // A minute-long tokens window first: when the limits below change, the object drops that window's reset
    // (the unit cases are in stale-observation.test.ts).
    const key = await simKeyWith({ requests: { limit: 10_000, window_ms: 1_000 }, tokens: { limit: 1_000_000, window_ms: 60_000 }, chars_per_token: 2 });
    const t = await createTenant(key);
    // Raw estimate 999 + 1 = 1,000; the provider charges 1,998 + 1.
    for (let i = 0; i < 6; i++) await chat(t, "gpt-4o-mini", 3_996, 1);
    // Background work learns in the connection's object the same way (runs one at a time there).
    const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: words(3_996) }], max_tokens: 1 });
    for (let i = 0; i < 6; i++) {
      const res = await proxyFetch(t, "/v1/chat/completions", { method: "POST", headers: { async: "true", "content-type": "application/json" }, body });
      const { status_url } = (await res.json()) as { status_url: string };
      await poll(
        async () => (await (await SELF.fetch(status_url, { headers: auth })).json()) as JobView,
        (j) => j.status === "completed",
        "job done",
      );
    }
    const mini = (await limits(t)).buckets.find((b) => b.bucket === "gpt-4o-mini")!;
    expect(mini.token_ratio).toBeGreaterThan(1.9);
    expect(mini.token_ratio).toBeLessThan(2.1);

    // Live: with 6,000 tokens per window a burst of such calls (3 fit) meets at most one 429 per window.
    await simKeyWith({ key, requests: { limit: 10_000, window_ms: 1_000 }, tokens: { limit: 6_000, window_ms: 1_000 }, chars_per_token: 2 });
    // One call teaches terapi the new limits (a key's limits do not change under a live connection otherwise).
    await chat(t, "gpt-4o-mini", 3_996, 1);
    const before = (await bucketStats(key))["gpt-4o-mini"].rate_limited.total;
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => chat(t, "gpt-4o-mini", 3_996, 1)));
    expect(results.map(statusOf).filter((s) => s !== 200)).toEqual([]);
    const after = (await bucketStats(key))["gpt-4o-mini"].rate_limited;
    console.log(`calibrated burst: 429s ${after.total - before}, ${JSON.stringify(after)}`);
    expect(after.total - before).toBeLessThanOrEqual(1);
    expect(after.max_429_in_one_window).toBeLessThanOrEqual(1);
  });
});

describe("GET /connections/:id/limits", () => {
  it("is described in /openapi.json and is a 404 for an unknown connection", async () => {
    const spec = (await (await SELF.fetch(`${TERAPI}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(spec.paths)).toContain("/connections/{id}/limits");
    const res = await SELF.fetch(`${TERAPI}/connections/nobody/limits?provider_config_key=nothing`, { headers: auth });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBeTruthy();
  });
});
