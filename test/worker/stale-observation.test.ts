import { describe, expect, it } from "vitest";
import { openai } from "../../src/providers/openai";
import { observe } from "../../src/proxy/observation";
import { createRateLimitView } from "../../src/proxy/rate-limit-view";
import { NO_GEN, RateLimiter, SAFETY_MARGIN_MS } from "../../src/proxy/rate-limiter";

/**
 * An answer's rate-limit headers describe the provider's budget when that answer arrived. Reports reach
 * the isolate's view and the connection's object in any order (an error answer is read before it is
 * learned; the object hears from isolates in the background), so one observed earlier can come in after
 * a fresher one: it must never replace it. The case: a 1-minute tokens window of 1,000,000 seen first,
 * then the key's limits changed to 6,000 tokens per second.
 */
const headers = (tokLimit: number, tokRemaining: number, reset: string) =>
  new Headers({
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9990",
    "x-ratelimit-reset-requests": "1s",
    "x-ratelimit-limit-tokens": String(tokLimit),
    "x-ratelimit-remaining-tokens": String(tokRemaining),
    "x-ratelimit-reset-tokens": reset,
  });
const T1 = 7_000_000;
const T2 = T1 + 2_000;
// Observed at T1 (arrived at T1): a minute-long window, far from its limit.
const older = () => observe(headers(1_000_000, 976_012, "1m0s"), openai.rateLimit, T1);
// Observed at T2: the new limits, two requests' worth left, resetting in a second.
const newer = () => observe(headers(6_000, 4_001, "1s"), openai.rateLimit, T2);

describe("an observation older than the one held never overwrites it", () => {
  it("in the isolate's view: the fresher budget stays, and is what the object is told", () => {
    const t = { now: T2 + 10 };
    const view = createRateLimitView({ now: () => t.now });
    const key = "c\u0000gpt-4o-mini";
    const a = view.begin(key, 2_000, 1_000);
    const b = view.begin(key, 2_000, 1_000);
    // The later answer is learned first; the earlier one (an error being read, say) comes in after it.
    view.finish(key, b, newer());
    view.finish(key, a, older());
    expect(view.hint(key).tokens).toMatchObject({ limit: 6_000, remaining: 4_001, resetAt: T2 + 1_000 });
    // One 2,000-token call fits with a fifth of 6,000 to spare; a second in flight does not.
    expect(view.route(key, 2_000)).toBe("direct");
    const c = view.begin(key, 2_000, 1_000);
    expect(view.route(key, 2_000)).toBe("coordinate");
    view.finish(key, c, null);
    // A genuinely newer answer still moves the view.
    view.finish(key, view.begin(key, 2_000, 1_000), observe(headers(6_000, 2_002, "500ms"), openai.rateLimit, T2 + 500));
    expect(view.hint(key).tokens).toMatchObject({ limit: 6_000, remaining: 2_002, resetAt: T2 + 1_000 });
  });

  it("in the connection's limiter: a late report neither restores the old limit nor pushes the reset a minute away", () => {
    const t = { now: T2 + 10 };
    const limiter = new RateLimiter(
      () => undefined,
      () => undefined,
      () => t.now,
    );
    const bucket = limiter.bucket("gpt-4o-mini");
    const g = bucket.tryAcquire(2_000);
    if (!g.ok) throw new Error("the first request must go");
    bucket.report({ gen: g.gen, obs: newer(), ticket: g.ticket, raw: 1_000 });
    const h = bucket.tryAcquire(2_000);
    const i = bucket.tryAcquire(2_000);
    if (!h.ok || !i.ok) throw new Error("two more fit in 4,001 tokens");
    // Late reports of answers observed at T1: one this object granted, one a direct call shared.
    bucket.report({ gen: h.gen, obs: older(), ticket: h.ticket, raw: 1_000 });
    bucket.report({ gen: NO_GEN, obs: older() });
    const tokens = limiter.state()[0].tokens;
    expect(tokens.limit).toBe(6_000);
    expect(tokens.reset_at).toBe(T2 + 1_000 + SAFETY_MARGIN_MS);
    // The next call waits for the fresh window (a second), not for the stale minute.
    expect(bucket.tryAcquire(2_000)).toEqual({ ok: false, at: T2 + 1_000 + SAFETY_MARGIN_MS });
    t.now = T2 + 1_000 + SAFETY_MARGIN_MS;
    expect(bucket.tryAcquire(2_000).ok).toBe(true);
  });

  it("in the connection's limiter: when the limit changes, the old window's minute-long reset goes with it", () => {
    const t = { now: T1 };
    const limiter = new RateLimiter(
      () => undefined,
      () => undefined,
      () => t.now,
    );
    const bucket = limiter.bucket("gpt-4o-mini");
    const g = bucket.tryAcquire(1_000);
    if (!g.ok) throw new Error("the first request must go");
    bucket.report({ gen: g.gen, obs: older(), ticket: g.ticket, raw: 1_000 });
    expect(limiter.state()[0].tokens.reset_at).toBe(T1 + 60_000 + SAFETY_MARGIN_MS);
    // In order this time: the answer under the new limits comes after (an isolate's hint carries it).
    t.now = T2 + 10;
    void limiter.acquire("gpt-4o-mini", 2_000, newer(), 0);
    const tokens = limiter.state()[0].tokens;
    expect(tokens).toMatchObject({ limit: 6_000, reset_at: T2 + 1_000 + SAFETY_MARGIN_MS });
    expect(tokens.remaining).toBeLessThanOrEqual(4_001 - 2_000);
    expect(bucket.tryAcquire(2_000).ok).toBe(true);
    expect(bucket.tryAcquire(2_000)).toEqual({ ok: false, at: T2 + 1_000 + SAFETY_MARGIN_MS });
  });
});
