import { describe, expect, it } from "vitest";
import { z } from "zod";
import { base64ToBytes, base64UrlToBytes, base64UrlToText, bytesToBase64Url, textToBase64Url } from "../../src/crypto/base64";
import { sha256Hex } from "../../src/crypto/sha256";
import { backoffCeilingMs, jitteredBackoffMs } from "../../src/lib/backoff";
import { connectionKey } from "../../src/lib/connection-key";
import { iso } from "../../src/lib/iso-time";
import { readCapped } from "../../src/lib/read-capped";
import { firstIssue, zodIssues } from "../../src/lib/zod-issues";

// The small helpers of src/lib and src/crypto that used to be written out in several places.

describe("base64url", () => {
  it("uses - and _ and drops the padding where base64 has + / and =", () => {
    // 0xfb 0xff is "+/8=" in standard base64.
    expect(bytesToBase64Url(new Uint8Array([0xfb, 0xff]))).toBe("-_8");
    expect([...base64UrlToBytes("-_8")]).toEqual([0xfb, 0xff]);
  });

  it("round-trips any bytes, including values larger than one call's argument list", () => {
    const bytes = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7_919) % 256);
    const encoded = bytesToBase64Url(bytes);
    expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(base64UrlToBytes(encoded)).toEqual(bytes);
  });

  it("reads the standard alphabet with padding too, and refuses what is not base64", () => {
    expect([...base64UrlToBytes("+/8=")]).toEqual([0xfb, 0xff]);
    expect(() => base64UrlToBytes("not base64!")).toThrow();
  });

  it("encodes any text as UTF-8, which btoa cannot", () => {
    const text = JSON.stringify([1, "tenant-é-✓-𝄞"]);
    expect(() => btoa(text)).toThrow();
    expect(base64UrlToText(textToBase64Url(text))).toBe(text);
    // ASCII text encodes as btoa did, so cursors handed out before still read.
    expect(textToBase64Url("seq:42")).toBe(btoa("seq:42").replace(/=+$/, ""));
    expect(() => base64UrlToText(bytesToBase64Url(new Uint8Array([0xff, 0xfe])))).toThrow();
  });
});

describe("sha256Hex", () => {
  it("gives the FIPS 180-2 digests of a string and of its bytes", async () => {
    const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    expect(await sha256Hex("abc")).toBe(abc);
    expect(await sha256Hex(new TextEncoder().encode("abc"))).toBe(abc);
    expect(await sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("hashes a string's UTF-8 bytes", async () => {
    expect(await sha256Hex("é")).toBe(await sha256Hex(base64ToBytes("w6k=")));
  });
});

/** A body of `chunks` chunks of `size` bytes (chunk i filled with i), counting what was pulled and whether it was cancelled. */
function countedBody(chunks: number, size: number) {
  const seen = { pulled: 0, cancelled: false };
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (seen.pulled === chunks) return controller.close();
      controller.enqueue(new Uint8Array(size).fill(seen.pulled++));
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  return { body, seen };
}

describe("readCapped", () => {
  it("reads a body under the cap whole", async () => {
    const { body } = countedBody(3, 10);
    const { bytes, truncated } = await readCapped(body, 100);
    expect(truncated).toBe(false);
    expect([...new Uint8Array(bytes)]).toEqual([...Array(10).fill(0), ...Array(10).fill(1), ...Array(10).fill(2)]);
  });

  it("a body of exactly the cap is not truncated", async () => {
    const { body } = countedBody(3, 10);
    const { bytes, truncated } = await readCapped(body, 30);
    expect(truncated).toBe(false);
    expect(bytes.byteLength).toBe(30);
  });

  it("stops at the cap, keeps the first bytes and cancels the rest unread", async () => {
    const { body, seen } = countedBody(1_000, 10);
    const { bytes, truncated } = await readCapped(body, 25);
    expect(truncated).toBe(true);
    expect([...new Uint8Array(bytes)]).toEqual([...Array(10).fill(0), ...Array(10).fill(1), ...Array(5).fill(2)]);
    expect(seen.cancelled).toBe(true);
    expect(seen.pulled).toBeLessThan(10);
  });

  it("no body is zero bytes", async () => {
    expect(await readCapped(null, 10)).toEqual({ bytes: new ArrayBuffer(0), truncated: false });
  });
});

describe("iso", () => {
  it("writes epoch milliseconds as ISO 8601 UTC and keeps null", () => {
    expect(iso(0)).toBe("1970-01-01T00:00:00.000Z");
    expect(iso(1_767_225_600_123)).toBe("2026-01-01T00:00:00.123Z");
    expect(iso(null)).toBeNull();
  });
});

describe("connectionKey", () => {
  it("tells apart pairs whose concatenations are alike", () => {
    expect(connectionKey("openai", "tenant-1")).toBe("openai\u0000tenant-1");
    expect(connectionKey("a:b", "c")).not.toBe(connectionKey("a", "b:c"));
    expect(connectionKey("ab", "c")).not.toBe(connectionKey("a", "bc"));
  });
});

describe("backoff", () => {
  const rules = { baseMs: 100, capMs: 1_000 };

  it("doubles from the base up to the cap; a negative count is the base", () => {
    expect([-1, 0, 1, 2, 3, 4, 50].map((n) => backoffCeilingMs(n, rules))).toEqual([100, 100, 200, 400, 800, 1_000, 1_000]);
  });

  it("draws uniformly below the ceiling (full jitter)", () => {
    expect(jitteredBackoffMs(2, rules, () => 0)).toBe(0);
    expect(jitteredBackoffMs(2, rules, () => 0.5)).toBe(200);
    expect(jitteredBackoffMs(2, rules, () => 0.999_999)).toBe(399);
    expect(jitteredBackoffMs(9, rules, () => 0.999_999)).toBe(999);
  });
});

describe("zod issues", () => {
  it("joins each issue's path with dots", () => {
    const parsed = z.object({ messages: z.array(z.object({ role: z.string() })) }).safeParse({ messages: [{ role: 1 }] });
    expect(parsed.success).toBe(false);
    const issues = zodIssues(parsed.error!);
    expect(issues).toEqual([{ path: "messages.0.role", message: expect.any(String) }]);
    expect(firstIssue(issues, "body")).toBe(`messages.0.role: ${issues[0]?.message}`);
  });

  it("names the root as told, and has no summary for no issues", () => {
    const parsed = z.string().safeParse(1);
    const issues = zodIssues(parsed.error!);
    expect(issues[0]?.path).toBe("");
    expect(firstIssue(issues, "input")).toMatch(/^input: /);
    expect(firstIssue([], "input")).toBeNull();
  });
});
