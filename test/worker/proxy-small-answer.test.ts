import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { flushOperationLogs } from "../../src/logs/record";
import type { OperationLog } from "../../src/logs/types";
import { settleUsageReaders } from "../../src/usage/tap";
import type { UsageReport } from "../../src/usage/query";
import { api } from "../harness/api";
import { createTenant, proxyFetch, simFault, simKey, type Tenant } from "../harness/connections";

/**
 * A small JSON answer (declared length <= 16 KiB) has arrived upstream: it is
 * read whole in one native call, counted from its bytes, and the caller gets
 * the same bytes (src/usage/tap.ts `readWhole`).
 */

const of = (t: Tenant) => `provider_config_key=${encodeURIComponent(t.providerConfigKey)}&connection_id=${encodeURIComponent(t.connectionId)}`;

async function proxiedUsage(t: Tenant) {
  await settleUsageReaders();
  await flushOperationLogs(env);
  const res = await api<UsageReport>("GET", `/usage?${of(t)}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.filter((d) => d.source === "proxy");
}

const chat = (t: Tenant, content: string) =>
  proxyFetch(t, "/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }] }),
  });

describe("a small JSON answer, passed through natively and counted beside it", () => {
  it("reaches the caller byte for byte with its length, and counts what the simulator reported", async () => {
    const t = await createTenant(await simKey());
    const res = await chat(t, "read me whole");
    expect(res.status).toBe(200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(res.headers.get("content-length")).toBe(String(bytes.byteLength));
    const body = JSON.parse(new TextDecoder().decode(bytes)) as { model: string; usage: { prompt_tokens: number; completion_tokens: number } };
    expect(body.usage.prompt_tokens).toBeGreaterThan(0);
    expect(await proxiedUsage(t)).toMatchObject([
      { model: body.model, requests: 1, errors: 0, estimated_requests: 0, input_tokens: body.usage.prompt_tokens, output_tokens: body.usage.completion_tokens },
    ]);
  });

  it("cut upstream mid-body: reaches the caller cut, as without terapi, and counts as one failed, estimated request, logged as a failure", async () => {
    // Issue 16: "the response reaches the caller exactly as today". A cut after the headers reaches the caller
    // as a 200 whose body breaks off (as through the bare Worker or any pass-through proxy), not as a 502.
    const key = await simKey();
    const t = await createTenant(key);
    await simFault({ key, count: 1, drop: "mid-stream", path_prefix: "/v1/chat/completions" });
    const res = await chat(t, "cut me off");
    expect(res.status).toBe(200);
    const declared = Number(res.headers.get("content-length"));
    const body = await res.arrayBuffer().then(
      (b) => ({ cut: b.byteLength < declared }),
      () => ({ cut: true }),
    );
    expect(body).toEqual({ cut: true });
    expect(await proxiedUsage(t)).toMatchObject([{ model: "unknown", requests: 1, errors: 1, estimated_requests: 1, input_tokens: 0, output_tokens: 0 }]);
    const logs = await api<{ logs: OperationLog[] }>("GET", `/logs?${of(t)}&type=proxy`);
    expect(logs.body.logs.filter((l) => l.path === "/v1/chat/completions")).toMatchObject([
      { status: "failure", http_status: 200, detail: "upstream_unreachable" },
    ]);
    // The next call is answered whole again.
    const again = await chat(t, "whole again");
    expect(again.status).toBe(200);
    expect(JSON.parse(await again.text())).toMatchObject({ object: "chat.completion" });
  });
});
