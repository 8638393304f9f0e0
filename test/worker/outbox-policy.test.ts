import { describe, expect, it } from "vitest";
import { parseRetryAfter } from "../../src/proxy/durations";
import { attemptDelivery, backoffDelayMs, classifyStatus, maxBackoffDelayMs, nextAttemptAt } from "../../src/webhooks/delivery";
import { receiverUrl, scriptReceiver } from "../harness/webhooks";

describe("delivery retry policy", () => {
  it("retries 5xx and 429 only; 2xx delivered; 3xx and other 4xx fail", () => {
    expect([200, 204, 299].map(classifyStatus)).toEqual(["delivered", "delivered", "delivered"]);
    expect([500, 502, 503, 504, 429].map(classifyStatus)).toEqual(["retry", "retry", "retry", "retry", "retry"]);
    expect([301, 302, 400, 401, 403, 404, 408, 410, 422].map(classifyStatus).every((o) => o === "failed")).toBe(true);
  });

  it("backs off exponentially with full jitter, floored at 1 s and capped at 1 h", () => {
    expect(backoffDelayMs(1, () => 0)).toBe(1000);
    expect(backoffDelayMs(1, () => 0.999)).toBeLessThanOrEqual(5000);
    expect(backoffDelayMs(3, () => 0.999)).toBeGreaterThan(19_000);
    expect(maxBackoffDelayMs(3)).toBe(20_000);
    expect(maxBackoffDelayMs(40)).toBe(3_600_000);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelayMs(4);
      expect(d).toBeGreaterThanOrEqual(1000);
      expect(d).toBeLessThanOrEqual(40_000);
    }
  });

  it("reads Retry-After as seconds or an HTTP date", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("120", now)).toBe(120_000);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:02:00 GMT", now)).toBe(120_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });

  it("gives up when the next attempt would fall past the day's deadline", () => {
    const base = { outcome: "retry" as const, status_code: 429, duration_ms: 1, response_snippet: null, error: null };
    expect(nextAttemptAt({ ...base, retry_after_ms: 120_000 }, 1, 0, 86_400_000)).toBe(120_000);
    expect(nextAttemptAt({ ...base, retry_after_ms: 120_000 }, 1, 86_300_000, 86_400_000)).toBeNull();
  });

  it("times out a receiver that does not answer, as a retryable failure", async () => {
    await scriptReceiver("slow-policy", [{ status: 200, delay_ms: 1500 }]);
    const result = await attemptDelivery({ url: receiverUrl("slow-policy"), headers: {}, body: "{}" }, 200);
    expect(result).toMatchObject({ outcome: "retry", status_code: null, error: "timeout after 200 ms" });
    expect(result.duration_ms).toBeLessThan(1500);
  });

  it("keeps at most 1 KB of the response", async () => {
    await scriptReceiver("big-policy", [{ status: 500, body: "y".repeat(5000) }]);
    const result = await attemptDelivery({ url: receiverUrl("big-policy"), headers: {}, body: "{}" });
    expect(result).toMatchObject({ outcome: "retry", status_code: 500 });
    expect(result.response_snippet).toHaveLength(1024);
  });
});
