// A client that leaves a streamed answer mid-way, over a real socket: terapi's
// deploy bundle straight on workerd (a direct socket, as in production), the
// OpenAI simulator upstream. The Worker tests show it through SELF.fetch (the
// caller cancels the body); this is the same for a client whose connection
// goes away, where workerd cancels the response body: the provider must stop
// generating (the simulator's log shows the stream cut short), not stream on
// to an abandoned reader.
import { connect } from "node:net";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { newSecrets, startMiniflare, type RunningTerapi } from "../../scripts/lib/terapi.ts";
import { SIMULATOR_URL } from "../harness/constants.ts";
import { waitFor } from "../harness/wait.ts";

const root = resolve(import.meta.dirname, "../..");
const secrets = newSecrets();
const PCK = "openai-leave";
const CONNECTION = "tenant-leave";
let terapi: RunningTerapi;
let key: string;

type Logged = { headers: Record<string, string>; ended_at: number | null; stream?: { events: number; written: number; complete: boolean } };

async function json<T>(url: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  json(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

beforeAll(async () => {
  terapi = await startMiniflare({ root, bundleDir: inject("bundleDir"), simUrl: SIMULATOR_URL, secrets, directSocket: true, usage: "on" });
  key = ((await post(`${SIMULATOR_URL}/__sim/keys`, {})) as { key: string }).key;
  const auth = { authorization: `Bearer ${secrets.secretKey}` };
  await post(`${terapi.origin}/integrations`, { unique_key: PCK, provider: "openai" }, auth);
  await post(`${terapi.origin}/connections`, { provider_config_key: PCK, connection_id: CONNECTION, credentials: { type: "API_KEY", apiKey: key } }, auth);
}, 180_000);

afterAll(async () => {
  await terapi?.stop();
});

describe("a client that drops its connection mid-stream", () => {
  it("stops the provider's stream: upstream is cancelled, not read to its end", async () => {
    const probe = crypto.randomUUID();
    const body = JSON.stringify({
      model: "gpt-4o-mini",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "Tell me a long story about a lighthouse keeper and the sea, in many short words." }],
    });
    const { hostname, port } = new URL(terapi.origin);
    const head = [
      "POST /proxy/v1/chat/completions HTTP/1.1",
      "host: terapi.test",
      `authorization: Bearer ${secrets.secretKey}`,
      `connection-id: ${CONNECTION}`,
      `provider-config-key: ${PCK}`,
      "content-type: application/json",
      `content-length: ${Buffer.byteLength(body)}`,
      "x-sim-chunk-delay-ms: 150",
      `x-probe: ${probe}`,
    ].join("\r\n");
    // Read until the first event arrives, then drop the connection.
    const received = await new Promise<string>((resolvePromise, reject) => {
      const socket = connect(Number(port), hostname, () => socket.write(`${head}\r\n\r\n${body}`));
      let text = "";
      socket.on("data", (c: Buffer) => {
        text += c.toString("utf8");
        if (text.includes("data: {")) {
          socket.destroy();
          resolvePromise(text);
        }
      });
      socket.on("error", reject);
      socket.on("end", () => reject(new Error(`the stream ended before its first event: ${text.slice(0, 300)}`)));
    });
    expect(received).toMatch(/^HTTP\/1\.1 200/);

    const logged = await waitFor(async () => {
      const mine = (await json<Logged[]>(`${SIMULATOR_URL}/__sim/requests?key=${key}`)).find((r) => r.headers["x-probe"] === probe);
      return mine?.ended_at ? mine : null;
    }, "the simulator to see the upstream stream end");
    expect(logged.stream).toBeDefined();
    expect(logged.stream!.complete).toBe(false);
    expect(logged.stream!.events).toBeGreaterThan(6);
    expect(logged.stream!.written).toBeLessThan(logged.stream!.events);
  });
});
