import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "../../src/cursor";

describe("cursor encoding (every paged list's next_cursor)", () => {
  it("round-trips a key of strings and numbers, URL-safe, whatever the characters", () => {
    const key = ["2026-01-02T03:04:05.000Z", "openai", "tenant/é?&=+ 😀"] as const;
    const cursor = encodeCursor(key);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, ["string", "string", "string"])).toEqual([...key]);
    expect(decodeCursor(encodeCursor([1767322800000, "log_x"]), ["number", "string"])).toEqual([1767322800000, "log_x"]);
  });

  it("refuses a cursor of another list's shape, or none of ours", () => {
    const logCursor = encodeCursor([1, "log_x"]);
    expect(decodeCursor(logCursor, ["number"])).toBeNull();
    expect(decodeCursor(logCursor, ["string", "string"])).toBeNull();
    for (const bad of ["", "x", "12", "!!!", encodeCursor([12]).slice(2), btoa("seq:12"), btoa('{"a":1}')]) expect(decodeCursor(bad, ["number"])).toBeNull();
  });
});
