import { describe, expect, it } from "vitest";
import { openai } from "../../src/providers/openai";
import { parseGoDuration, parseReset, parseRetryAfter, parseRetryAfterMs } from "../../src/proxy/durations";
import { attemptFits, backoffDelayMs, classify, resetDelayMs, retryOptions } from "../../src/proxy/retry-policy";

describe("reset durations", () => {
  it.each([
    ["0", 0],
    ["0s", 0],
    ["20ms", 20],
    ["1s", 1_000],
    ["1.5s", 1_500],
    ["6m0s", 360_000],
    ["11m32.334s", 692_334],
    ["1h2m3.5s", 3_723_500],
    ["59.999s", 59_999],
    ["834ms", 834],
    ["500us", 0.5],
    ["500µs", 0.5],
    ["1500000ns", 1.5],
    ["2h", 7_200_000],
    [".5s", 500],
  ])("%s → %d ms", (raw, ms) => {
    expect(parseGoDuration(raw)).toBeCloseTo(ms, 6);
  });
  it.each(["", "1", "s", "1x", "1s2", "-1s", "1 s", "abc"])("refuses %j", (raw) => {
    expect(parseGoDuration(raw)).toBeNull();
  });
  it("retry-after-ms, retry-after seconds and HTTP dates", () => {
    expect(parseRetryAfterMs("1500")).toBe(1500);
    expect(parseRetryAfterMs("soon")).toBeNull();
    expect(parseRetryAfter("2")).toBe(2000);
    const now = Date.parse("2026-11-25T10:00:00Z");
    expect(parseRetryAfter("Wed, 25 Nov 2026 10:00:30 GMT", now)).toBe(30_000);
    expect(parseReset("7", "seconds")).toBe(7000);
    expect(parseReset("1.5s", "go-duration")).toBe(1500);
  });
});

describe("classification", () => {
  const rules = openai.retry;
  it("waits on rate limits, never on quota, backs off on 5xx", () => {
    expect(classify(200, {}, rules, null)).toBe("ok");
    expect(classify(429, { code: "rate_limit_exceeded", type: "requests" }, rules, null)).toBe("wait");
    expect(classify(429, { code: "rate_limit_exceeded", type: "tokens" }, rules, null)).toBe("wait");
    expect(classify(429, { code: "slow_down" }, rules, null)).toBe("wait");
    expect(classify(429, { code: "insufficient_quota", type: "insufficient_quota" }, rules, null)).toBe("never");
    expect(classify(429, { code: "billing_hard_limit_reached" }, rules, null)).toBe("never");
    expect(classify(401, { code: "invalid_api_key" }, rules, null)).toBe("never");
    expect(classify(400, {}, rules, null)).toBe("never");
    expect(classify(503, {}, rules, null)).toBe("backoff");
    expect(classify(408, {}, rules, null)).toBe("backoff");
    expect(classify(501, {}, rules, null)).toBe("never");
  });
  it("Retry-On narrows or widens what is retried", () => {
    expect(classify(503, {}, rules, new Set([429]))).toBe("never");
    expect(classify(501, {}, rules, new Set([501]))).toBe("backoff");
    expect(classify(401, {}, rules, new Set([401]))).toBe("never");
    expect(classify(400, {}, rules, new Set([400]))).toBe("never");
    expect(classify(429, { code: "rate_limit_exceeded" }, rules, new Set([503]))).toBe("never");
  });
  it("reset from headers in order of precision, the message as a last resort", () => {
    const rl = openai.rateLimit;
    expect(resetDelayMs(new Headers({ "retry-after-ms": "250", "retry-after": "9" }), {}, rl)).toBe(250);
    expect(resetDelayMs(new Headers({ "retry-after": "3" }), {}, rl)).toBe(3000);
    const both = new Headers({ "x-ratelimit-reset-requests": "1.2s", "x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-remaining-requests": "0" });
    expect(resetDelayMs(both, { type: "requests" }, rl)).toBe(1200);
    expect(resetDelayMs(both, { type: "tokens" }, rl)).toBe(360_000);
    expect(resetDelayMs(new Headers(), { message: "Rate limit reached. Please try again in 1.574s. Visit …" }, rl)).toBe(1574);
    expect(resetDelayMs(new Headers(), { message: "Please try again in 20ms." }, rl)).toBe(20);
    expect(resetDelayMs(new Headers(), {}, rl)).toBeNull();
  });
});

describe("caller options", () => {
  const rules = openai.retry;
  it("defaults, bounds and bad values", () => {
    expect(retryOptions(new Headers(), "GET", rules)).toMatchObject({ retries: 2, backoffAllowed: true, retryOn: null });
    expect(retryOptions(new Headers(), "POST", rules).backoffAllowed).toBe(false);
    expect(retryOptions(new Headers({ "idempotency-key": "k" }), "POST", rules).backoffAllowed).toBe(true);
    expect(retryOptions(new Headers({ retries: "5" }), "POST", rules)).toMatchObject({ retries: 5, backoffAllowed: true });
    expect(retryOptions(new Headers({ "retry-on": "429, 503" }), "GET", rules).retryOn).toEqual(new Set([429, 503]));
    for (const bad of ["11", "-1", "two", "1.5", ""]) expect(() => retryOptions(new Headers({ retries: bad }), "GET", rules)).toThrow(/Retries/);
    expect(() => retryOptions(new Headers({ "retry-on": "abc" }), "GET", rules)).toThrow(/Retry-On/);
  });
  it("full jitter stays within the exponential cap", () => {
    expect(backoffDelayMs(0, rules, () => 0.999)).toBeLessThan(250);
    expect(backoffDelayMs(3, rules, () => 0.999)).toBeLessThan(2000);
    expect(backoffDelayMs(20, rules, () => 0.999)).toBeLessThan(8000);
    expect(backoffDelayMs(5, rules, () => 0)).toBe(0);
  });
});

describe("another attempt within the call's bound", () => {
  it("counts the slowest attempt so far, not only the delay before it", () => {
    // 12 s-slow 503s, 30 s bound: after the first (18 s left) a second would end at 24 s + delay; a third would not fit.
    expect(attemptFits(500, 12_000, 18_000)).toBe(true);
    expect(attemptFits(500, 12_000, 6_000)).toBe(false);
    expect(attemptFits(5_000, 0, 5_000)).toBe(false);
    expect(attemptFits(0, 0, 1)).toBe(true);
  });
});
