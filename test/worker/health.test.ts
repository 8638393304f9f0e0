import { SELF, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";

describe("health", () => {
  it("answers without a secret key", async () => {
    const res = await SELF.fetch("http://terapi.test/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });
  it("can reach the simulator", async () => {
    const res = await fetch(`${env.OPENAI_BASE_URL}/v1/models`, { headers: { authorization: "Bearer sk-test-good" } });
    expect(res.status).toBe(200);
  });
  it("unknown routes need the secret key, then 404 as JSON", async () => {
    const res = await SELF.fetch("http://terapi.test/nope", { headers: { authorization: "Bearer test-secret-key-current" } });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: "not_found" } });
  });
});
