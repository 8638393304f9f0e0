// What the proxy does with request targets and headers that a fetch() client
// cannot send (every WHATWG URL parser resolves `..` and `\` first, and fetch
// refuses to set `Connection`): raw HTTP/1.1 over a socket to terapi's deploy
// bundle, two ways:
// - straight to workerd (a direct socket): the Worker sees the request target
//   as sent, as behind Cloudflare with URL normalization off;
// - through Miniflare's entry, as under `wrangler dev`: Node normalises the
//   URL before workerd sees it (as Cloudflare's default URL normalization does).
// The OpenAI simulator is the upstream; its request log shows what left terapi.
import { connect } from "node:net";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { newSecrets, startMiniflare, type RunningTerapi } from "../../scripts/lib/terapi.ts";
import { SIMULATOR_URL } from "../harness/constants.ts";

const root = resolve(import.meta.dirname, "../..");
const secrets = newSecrets();
const PCK = "openai-raw";
const CONNECTION = "tenant-raw";
let direct: RunningTerapi;
let entry: RunningTerapi;
let key: string;

type RawReply = { status: number; headers: Record<string, string>; body: string };

/** One HTTP/1.1 request written byte for byte; the reply parsed just enough. */
function raw(origin: string, requestLine: string, headers: Record<string, string> = {}): Promise<RawReply> {
  const { hostname, port } = new URL(origin);
  const all = { host: "terapi.test", authorization: `Bearer ${secrets.secretKey}`, "connection-id": CONNECTION, "provider-config-key": PCK, ...headers };
  const head = `${requestLine}\r\n${Object.entries(all)
    .map(([k, v]) => `${k}: ${v}`)
    .join("\r\n")}\r\n\r\n`;
  return new Promise((resolvePromise, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(head));
    const chunks: Buffer[] = [];
    socket.on("data", (c) => chunks.push(c));
    socket.on("error", reject);
    socket.on("end", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const [top, ...rest] = text.split("\r\n\r\n");
      const [status, ...lines] = top.split("\r\n");
      const parsed: Record<string, string> = {};
      for (const l of lines) parsed[l.slice(0, l.indexOf(":")).toLowerCase()] = l.slice(l.indexOf(":") + 1).trim();
      resolvePromise({ status: Number(status.split(" ")[1]), headers: parsed, body: rest.join("\r\n\r\n") });
    });
  });
}

async function sim<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${SIMULATOR_URL}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await res.json()) as T;
}
const upstream = () => sim<{ path: string; headers: Record<string, string> }[]>("GET", `/__sim/requests?key=${key}`);

async function api(origin: string, path: string, body: unknown) {
  const res = await fetch(`${origin}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${secrets.secretKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`${path}: ${res.status} ${await res.text()}`);
}

beforeAll(async () => {
  // The bundle globalSetup built once for the run (test/harness/global-setup.ts).
  const bundleDir = inject("bundleDir");
  [direct, entry] = await Promise.all([
    startMiniflare({ root, bundleDir, simUrl: SIMULATOR_URL, secrets, directSocket: true }),
    startMiniflare({ root, bundleDir, simUrl: SIMULATOR_URL, secrets, directSocket: false }),
  ]);
  key = (await sim<{ key: string }>("POST", "/__sim/keys", {})).key;
  for (const t of [direct, entry]) {
    await api(t.origin, "/integrations", { unique_key: PCK, provider: "openai" });
    await api(t.origin, "/connections", { provider_config_key: PCK, connection_id: CONNECTION, credentials: { type: "API_KEY", apiKey: key } });
  }
}, 180_000);

afterAll(async () => {
  await Promise.all([direct?.stop(), entry?.stop()]);
});

/**
 * Sends one request marked with a fresh `x-probe` header and returns the upstream
 * requests carrying it (the connection's own background syncs carry none).
 */
async function sentUpstream(
  origin: string,
  requestLine: string,
  headers: Record<string, string> = {},
): Promise<{ reply: RawReply; paths: string[]; headers: Record<string, string>[] }> {
  const probe = crypto.randomUUID();
  const reply = await raw(origin, requestLine, { "x-probe": probe, connection: "close", ...headers });
  const mine = (await upstream()).filter((r) => r.headers["x-probe"] === probe);
  return { reply, paths: mine.map((r) => r.path), headers: mine.map((r) => r.headers) };
}

describe("raw request targets straight to workerd: the Worker sees them as sent and refuses them", () => {
  it.each([
    ["/proxy/v1/../v1/models", "dot segment"],
    ["/proxy/v1/./models", "dot segment"],
    ["/proxy/v1/%2e%2e/v1/models", "encoded dot, slash, backslash or percent sign"],
    ["/proxy/v1/%2E%2E/v1/models", "encoded dot, slash, backslash or percent sign"],
    ["/proxy/v1\\..\\models", "backslash"],
    ["/proxy/v1/models\\x", "backslash"],
  ])("GET %s: 400 invalid_path (%s), nothing upstream", async (target, why) => {
    const { reply, paths } = await sentUpstream(direct.origin, `GET ${target} HTTP/1.1`);
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body)).toEqual({ error: { code: "invalid_path", message: `Proxy path refused: ${why}` } });
    expect(paths).toEqual([]);
  });

  it("TRACE is a 405 from terapi; TRACK and CONNECT are answered by workerd itself; none leaves terapi", async () => {
    const trace = await sentUpstream(direct.origin, "TRACE /proxy/v1/models HTTP/1.1");
    expect(trace.reply.status).toBe(405);
    expect(JSON.parse(trace.reply.body)).toEqual({ error: { code: "method_not_allowed", message: "TRACE is never proxied" } });
    expect(trace.paths).toEqual([]);
    // workerd refuses TRACK as an unknown method, and hands CONNECT to a connect() handler, which
    // terapi does not export (a tunnel is never offered): neither reaches the fetch handler.
    const track = await sentUpstream(direct.origin, "TRACK /proxy/v1/models HTTP/1.1");
    expect(track.reply.status).toBe(501);
    expect(track.paths).toEqual([]);
    const tunnel = await sentUpstream(direct.origin, "CONNECT /proxy/v1/models HTTP/1.1");
    expect(tunnel.reply.status).toBe(500);
    expect(tunnel.paths).toEqual([]);
  });

  it("workerd hands the Worker the Connection header: the headers it names are not forwarded, the others are", async () => {
    const { reply, headers } = await sentUpstream(direct.origin, "GET /proxy/v1/models HTTP/1.1", {
      "x-hop-secret": "1",
      "x-end-to-end": "kept",
      connection: "X-Hop-Secret, close",
    });
    expect(reply.status).toBe(200);
    expect(headers).toHaveLength(1);
    expect(headers[0]["x-end-to-end"]).toBe("kept");
    expect(headers[0]["x-hop-secret"]).toBeUndefined();
  });
});

describe("the provider's answer on the caller's socket", () => {
  it("carries no hop-by-hop header of the upstream connection (the simulator answers with Connection: keep-alive and Keep-Alive)", async () => {
    const { reply } = await sentUpstream(direct.origin, "GET /proxy/v1/models HTTP/1.1");
    expect(reply.status).toBe(200);
    expect(reply.headers["keep-alive"]).toBeUndefined();
    expect(reply.headers.connection ?? "close").toMatch(/^(close|keep-alive)$/i);
    expect(reply.headers["x-request-id"]).toMatch(/\S/);
    expect(JSON.parse(reply.body)).toHaveProperty("data");
  });
});

describe("through a normalising front (Miniflare's entry, as under wrangler dev): resolved first, never outside the base URL", () => {
  it.each([
    ["/proxy/v1/../v1/models", "/v1/models"],
    ["/proxy/v1/%2e%2e/v1/models", "/v1/models"],
    ["/proxy/v1\\models", "/v1/models"],
    ["/proxy/v1/./models", "/v1/models"],
  ])("GET %s reaches the provider as %s", async (target, path) => {
    const { reply, paths } = await sentUpstream(entry.origin, `GET ${target} HTTP/1.1`);
    expect(reply.status).toBe(200);
    expect(paths).toEqual([path]);
  });

  it("`..` past the proxy mount lands on terapi's own routes, not upstream", async () => {
    const { reply, paths } = await sentUpstream(entry.origin, "GET /proxy/../integrations HTTP/1.1");
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toHaveProperty("data");
    expect(paths).toEqual([]);
  });

  it("still refuses what survives normalisation: an encoded slash or a double-encoded dot", async () => {
    for (const target of ["/proxy/v1/..%2fadmin", "/proxy/v1/%252e%252e/admin"]) {
      const { reply, paths } = await sentUpstream(entry.origin, `GET ${target} HTTP/1.1`);
      expect(reply.status).toBe(400);
      expect(paths).toEqual([]);
    }
  });
});
