import { describe, expect, it } from "vitest";
import { RateLimiter } from "../../src/proxy/rate-limiter";
import { openai } from "../../src/providers/openai";
import { TokenCalibration } from "../../src/proxy/calibration";
import { chargeOf, endpointBucket } from "../../src/proxy/limit-bucket";
import { observe, observeRefusal } from "../../src/proxy/observation";
import { EPOCH_MS } from "../../src/proxy/outstanding";
import { createRateLimitView, PROBE_WAIT_MS } from "../../src/proxy/rate-limit-view";
import { resetDelayMs } from "../../src/proxy/retry-policy";

const rules = openai.rateLimit;
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v)).buffer as ArrayBuffer;
const chat = (model: string, content: string, extra: Record<string, unknown> = {}) => enc({ model, messages: [{ role: "user", content }], ...extra });

describe("limit buckets and token estimates from provider data", () => {
  it("a model endpoint's small JSON body is charged to its model; declared snapshots to their family", () => {
    expect(chargeOf(rules, "/v1/chat/completions", "POST", chat("gpt-4o-mini", "x".repeat(400), { max_tokens: 50 }))).toEqual({
      bucket: "gpt-4o-mini",
      tokens: 100 + 50,
    });
    expect(chargeOf(rules, "/v1/chat/completions", "POST", chat("gpt-4o-2024-08-06", "hi")).bucket).toBe("gpt-4o");
    expect(chargeOf(rules, "/v1/chat/completions", "POST", chat("my-ft:model", "hi")).bucket).toBe("my-ft:model");
  });

  it("max output x n, text parts, instructions; embeddings and moderations are charged their input only", () => {
    const parts = enc({
      model: "gpt-4o",
      instructions: "x".repeat(40),
      input: [{ role: "user", content: [{ type: "input_text", text: "y".repeat(80) }] }],
      max_output_tokens: 100,
      n: 3,
    });
    expect(chargeOf(rules, "/v1/responses", "POST", parts).tokens).toBe(10 + 20 + 300);
    // No max given: the provider data's default output allowance.
    expect(chargeOf(rules, "/v1/chat/completions", "POST", chat("gpt-4o", "abcd")).tokens).toBe(1 + rules.tokens.defaultMaxOutput);
    expect(chargeOf(rules, "/v1/embeddings", "POST", enc({ model: "text-embedding-3-small", input: ["abcd", "efgh"] }))).toEqual({
      bucket: "text-embedding-3-small",
      tokens: 2,
    });
    expect(chargeOf(rules, "/v1/moderations", "POST", enc({ model: "omni-moderation-latest", input: "x".repeat(8) })).tokens).toBe(2);
  });

  it("streams, multipart, other endpoints and GETs are charged to their endpoint, 0 tokens, without being read", () => {
    const stream = new ReadableStream();
    expect(chargeOf(rules, "/v1/chat/completions", "POST", stream)).toEqual({ bucket: "/v1/chat", tokens: 0 });
    expect(chargeOf(rules, "/v1/audio/transcriptions", "POST", new TextEncoder().encode("--b\r\nmodel").buffer as ArrayBuffer)).toEqual({
      bucket: "/v1/audio",
      tokens: 0,
    });
    // fine-tuning jobs name a model but draw from their endpoint's budget.
    expect(chargeOf(rules, "/v1/fine_tuning/jobs", "POST", enc({ model: "gpt-4o-mini", training_file: "f" }))).toEqual({
      bucket: "/v1/fine_tuning",
      tokens: 0,
    });
    expect(chargeOf(rules, "/v1/files/file-1/content", "GET", null)).toEqual({ bucket: "/v1/files", tokens: 0 });
    expect(chargeOf(rules, "/v1/chat/completions", "POST", enc({ messages: [] })).bucket).toBe("/v1/chat");
    expect(endpointBucket("/v1", 2)).toBe("/v1");
  });
});

describe("token calibration", () => {
  it("converges on what the provider charges when its count is 2x the first estimate", () => {
    const cal = new TokenCalibration();
    const raw = 500;
    let remaining = 100_000;
    const resetAt = 1_000_000;
    for (let i = 0; i < 12; i++) {
      const ticket = cal.start();
      remaining -= 2 * raw; // the provider charges twice the raw estimate
      cal.finish(ticket, { remaining, resetAt }, raw);
    }
    expect(cal.estimate(raw)).toBeGreaterThanOrEqual(2 * raw * 0.97);
    expect(cal.estimate(raw)).toBeLessThanOrEqual(2 * raw * 1.03);
  });

  it("learns nothing from requests that overlapped or readings of different windows", () => {
    const cal = new TokenCalibration();
    const a = cal.start();
    const b = cal.start();
    cal.finish(a, { remaining: 900, resetAt: 1000 }, 100);
    cal.finish(b, { remaining: 500, resetAt: 1000 }, 100);
    expect(cal.samples).toBe(0);
    const c = cal.start();
    cal.finish(c, { remaining: 9_000, resetAt: 2000 }, 100);
    expect(cal.samples).toBe(0);
    // The provider's own count in a tokens 429 is a sample too.
    cal.charged(300, 100);
    expect(cal.estimate(100)).toBe(300);
  });
});

describe("the connection's limiter: one FIFO per bucket, requests and tokens", () => {
  const make = (t: { now: number }) =>
    new RateLimiter(
      () => undefined,
      () => undefined,
      () => t.now,
    );
  const obs = (reqRemaining: number, tokRemaining: number, now: number) => ({
    requests: { limit: 4, remaining: reqRemaining, resetAt: now + 1_000 },
    tokens: { limit: 6_000, remaining: tokRemaining, resetAt: now + 1_000 },
  });

  it("a bucket out of requests holds its own requests, never another bucket's", async () => {
    const t = { now: 1_000_000 };
    const limiter = make(t);
    const slow = limiter.bucket("gpt-4o");
    const first = slow.tryAcquire(0);
    expect(first.ok).toBe(true);
    if (first.ok) slow.report({ gen: first.gen, obs: obs(0, 6_000, t.now), ticket: first.ticket });
    const held = limiter.tryAcquire("gpt-4o", 10);
    expect(held).toEqual({ ok: false, at: t.now + 1_000 + 30 });
    expect(limiter.tryAcquire("gpt-4o-mini", 10).ok).toBe(true);
    // A live request to the spent bucket waits; one to another bucket is granted at once.
    const waiting = limiter.acquire("gpt-4o", 10, {}, 0);
    expect(await waiting).toEqual({ ok: false, retryAfterMs: 1_030 });
    expect((await limiter.acquire("text-embedding-3-small", 5, {}, 0)).ok).toBe(true);
  });

  it("a request goes only when the tokens window has room for its estimate too", () => {
    const t = { now: 2_000_000 };
    const b = make(t).bucket("gpt-4o");
    const g = b.tryAcquire(1_000);
    if (!g.ok) throw new Error("first request must go");
    b.report({ gen: g.gen, obs: obs(3, 1_500, t.now), ticket: g.ticket, raw: 1_000 });
    const second = b.tryAcquire(1_000);
    expect(second.ok).toBe(true);
    // 500 tokens left, requests left: held until the tokens window resets.
    expect(b.tryAcquire(1_000)).toEqual({ ok: false, at: t.now + 1_030 });
    // A request that needs no tokens still goes.
    expect(b.tryAcquire(0).ok).toBe(true);
    t.now += 1_031;
    expect(b.tryAcquire(1_000).ok).toBe(true);
  });

  it("a tokens 429 blocks the tokens dimension of its bucket only, until the tokens reset", () => {
    const t = { now: 3_000_000 };
    const limiter = make(t);
    const b = limiter.bucket("gpt-4o");
    const g = b.tryAcquire(1_000);
    if (!g.ok) throw new Error("first request must go");
    const headers = new Headers({
      "x-ratelimit-limit-requests": "4",
      "x-ratelimit-remaining-requests": "3",
      "x-ratelimit-reset-requests": "200ms",
      "x-ratelimit-limit-tokens": "6000",
      "x-ratelimit-remaining-tokens": "100",
      "x-ratelimit-reset-tokens": "800ms",
    });
    const o = observe(headers, rules, t.now);
    const info = {
      type: "tokens",
      code: "rate_limit_exceeded",
      message: "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 6000, Used 5900, Requested 1200. Please try again in 800ms.",
    };
    const refusal = observeRefusal(o, headers, info, rules, t.now, 30);
    expect(refusal).toEqual({ waitMs: 800, dimension: "tokens", chargedTokens: 1200 });
    expect(o.requests?.blockedUntil).toBeUndefined();
    b.report({ gen: g.gen, obs: o, ticket: g.ticket, raw: 1_000, chargedTokens: refusal.chargedTokens });
    expect(b.tryAcquire(1_000)).toEqual({ ok: false, at: t.now + 830 });
    expect(b.tryAcquire(0).ok).toBe(true);
    expect(limiter.tryAcquire("gpt-4o-mini", 1_000).ok).toBe(true);
    // The provider's "Requested 1200" for a raw 1,000 taught the bucket.
    expect(b.estimate(1_000)).toBe(1_200);
  });

  it("keeps at most its cap of buckets in memory, forgetting idle ones first", () => {
    const t = { now: 4_000_000 };
    const forgotten: string[] = [];
    const limiter = new RateLimiter(
      () => undefined,
      (name, s) => s === null && forgotten.push(name),
      () => t.now,
      3,
    );
    for (const m of ["a", "b", "c", "d"]) limiter.bucket(m);
    expect(limiter.state().map((s) => s.bucket)).toEqual(["b", "c", "d"]);
    expect(forgotten).toEqual(["a"]);
  });
});

describe("the isolate's view per (connection, bucket)", () => {
  it("a bucket near its limit is coordinated while another goes direct; a token-heavy request is coordinated", () => {
    const t = { now: 5_000_000 };
    const view = createRateLimitView({ now: () => t.now });
    view.learn("c\u0000gpt-4o", { requests: { limit: 4, remaining: 3, resetAt: t.now + 1_000 } });
    view.learn("c\u0000mini", {
      requests: { limit: 1_000, remaining: 999, resetAt: t.now + 1_000 },
      tokens: { limit: 6_000, remaining: 5_000, resetAt: t.now + 1_000 },
    });
    expect(view.route("c\u0000gpt-4o")).toBe("coordinate");
    expect(view.route("c\u0000mini", 1_000)).toBe("direct");
    const s = view.begin("c\u0000mini", 3_000, 3_000);
    expect(view.route("c\u0000mini", 1_000)).toBe("coordinate");
    view.finish("c\u0000mini", s, null);
    expect(view.route("c\u0000mini", 1_000)).toBe("direct");
  });

  it("a newcomer never overtakes this isolate's requests held by the object", async () => {
    const view = createRateLimitView();
    view.learn("k", { requests: { limit: 1_000, remaining: 999, resetAt: Date.now() + 60_000 } });
    expect(view.route("k")).toBe("direct");
    let release!: () => void;
    const holding = view.held("k", () => new Promise<void>((r) => (release = r)));
    expect(view.route("k")).toBe("coordinate");
    release();
    await holding;
    expect(view.route("k")).toBe("direct");
  });

  it("a probe that never reports back (its request was cancelled) holds the others for PROBE_WAIT_MS at most", async () => {
    const t = { now: 7_000_000 };
    const view = createRateLimitView({ now: () => t.now });
    view.begin("p"); // the probe goes out; its isolate context is then cancelled: no finish
    expect(view.route("p")).toBe("wait-probe");
    // A waiter's own timer ends the wait even though the probe never resolves.
    t.now += PROBE_WAIT_MS;
    await view.probeDone("p");
    expect(view.route("p")).toBe("coordinate");
  });

  it("forgets in-flight and held counts of requests that never came back, within two epochs", async () => {
    const t = { now: 9 * EPOCH_MS };
    const view = createRateLimitView({ now: () => t.now });
    view.learn("k", { requests: { limit: 100, remaining: 90, resetAt: t.now + 60 * 60_000 } });
    // 70 requests whose contexts were cancelled mid-call: they never finish.
    for (let i = 0; i < 70; i++) view.begin("k");
    expect(view.route("k")).toBe("coordinate");
    void view.held("k", () => new Promise<never>(() => {})); // a hold that never ends either
    t.now += EPOCH_MS;
    expect(view.route("k")).toBe("coordinate"); // still within the bound
    t.now += EPOCH_MS;
    expect(view.route("k")).toBe("direct");
    // Requests that do finish are counted and uncounted as before.
    const s = view.begin("k");
    view.finish("k", s, null);
    expect(view.route("k")).toBe("direct");
  });

  it("is bounded", () => {
    const view = createRateLimitView({ maxEntries: 2 });
    for (const k of ["a", "b", "c"]) view.route(k);
    expect(view.size()).toBe(2);
  });
});

describe("per-day limits", () => {
  it("the wait of a per-day 429 comes from its message, not the per-minute reset headers", () => {
    const headers = new Headers({ "x-ratelimit-reset-requests": "1s", "x-ratelimit-remaining-requests": "0" });
    const info = {
      type: "requests",
      message: "Rate limit reached for gpt-4o in organization org-x on requests per day (RPD): Limit 100, Used 100, Requested 1. Please try again in 7h12m0s.",
    };
    expect(resetDelayMs(headers, info, rules)).toBe((7 * 60 + 12) * 60_000);
  });
});
