// The proxy's steps one by one, as functions the micro-benchmark (bench/micro.ts) times in a loop.
// Bundled with esbuild for Node (src uses extensionless imports); V8 is the same
// engine as workerd's, but Headers, Request/Response and crypto.subtle are Node's
// own (undici, OpenSSL), not workerd's C++: read those rows as an order of magnitude.
import { timingSafeEqual } from "node:crypto";
import { createRouter } from "../../src/openapi";
import { isSecretKey } from "../../src/middleware/secret-key-auth";
import { createConnectionCache } from "../../src/connections/cache";
import { chargeOf } from "../../src/proxy/limit-bucket";
import { createRateLimitView } from "../../src/proxy/rate-limit-view";
import { observe } from "../../src/proxy/observation";
import { authHeadersFor, callerResponseHeaders, upstreamRequestHeaders } from "../../src/proxy/headers";
import { confinePath, rawPathAndQuery, upstreamUrl } from "../../src/proxy/path";
import { toLogEntry } from "../../src/logs/record";
import { createJsonCollector } from "../../src/usage/extract";
import { getProvider } from "../../src/providers/catalog";
import type { ConnectionSecret } from "../../src/store/connection-secret";

// workerd's non-standard constant-time compare, as Node's.
const subtle = crypto.subtle as unknown as { timingSafeEqual?: (a: ArrayBuffer, b: ArrayBuffer) => boolean };
subtle.timingSafeEqual ??= (a, b) => timingSafeEqual(new Uint8Array(a), new Uint8Array(b));

const provider = getProvider("openai");
if (!provider) throw new Error("no openai provider");
const usageRules = provider.usage;
if (!usageRules) throw new Error("no usage rules");

const body = new TextEncoder().encode(
  JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Say hello in one short sentence." }], max_tokens: 16 }),
).buffer as ArrayBuffer;
const incoming = new Headers({
  authorization: "Bearer sk_terapi_secret",
  "connection-id": "tenant-42",
  "provider-config-key": "openai",
  "content-type": "application/json",
  "content-length": String(body.byteLength),
  host: "127.0.0.1:8787",
  connection: "keep-alive",
  "user-agent": "bench",
});
const upstreamHeaders = new Headers({
  "content-type": "application/json",
  "content-length": "612",
  "x-request-id": "req_123",
  "x-ratelimit-limit-requests": "10000",
  "x-ratelimit-remaining-requests": "9999",
  "x-ratelimit-reset-requests": "6ms",
  "x-ratelimit-limit-tokens": "1000000",
  "x-ratelimit-remaining-tokens": "999950",
  "x-ratelimit-reset-tokens": "3ms",
  connection: "keep-alive",
});
const answer = new TextEncoder().encode(
  JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "gpt-4o-mini-2024-07-18",
    choices: [{ index: 0, message: { role: "assistant", content: "Hello there!" }, finish_reason: "stop" }],
    usage: {
      prompt_tokens: 14,
      completion_tokens: 3,
      total_tokens: 17,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    },
  }),
);
const secret: ConnectionSecret = {
  providerConfigKey: "openai",
  connectionId: "tenant-42",
  provider: "openai",
  credentials: { type: "API_KEY", apiKey: "sk-test" },
  config: {},
};
const env = { TERAPI_SECRET_KEY: "sk_terapi_secret" } as Env;
const cache = createConnectionCache(async () => secret);
const view = createRateLimitView();
const key = "openai\u0000tenant-42\u0000gpt-4o-mini";
const url = "http://127.0.0.1:8787/proxy/v1/chat/completions";

// The router as the app has it for /proxy/* (a `*` middleware, the mount), against the fast path's prefix test.
const api = createRouter();
api.use("*", async (_c, next) => next());
const proxyRoutes = createRouter();
proxyRoutes.get("/requests/:id", (c) => c.text("status"));
proxyRoutes.all("/*", () => new Response("ok"));
api.route("/proxy", proxyRoutes);
const app = createRouter();
app.route("/", api);
const routerRequest = new Request(url, { method: "POST" });

export type Step = { name: string; run: () => unknown | Promise<unknown> };

export const steps: Step[] = [
  { name: "routing: OpenAPIHono app.fetch to a /proxy/* handler", run: () => app.fetch(routerRequest) },
  { name: "routing: the fast path's prefix test", run: () => url.startsWith("/proxy/", url.indexOf("/", url.indexOf("://") + 3)) },
  { name: "secret-key check (SHA-256 + constant-time compare)", run: () => isSecretKey(env, "sk_terapi_secret") },
  { name: "connection cache hit", run: () => cache.get(env, "openai", "tenant-42") },
  { name: "path: raw split, confinement, upstream URL", run: () => upstreamUrl("https://api.openai.com", confinePath(rawPathAndQuery(url).path.slice(6)), "") },
  { name: "bucket and token charge (JSON body read)", run: () => chargeOf(provider.rateLimit, "/v1/chat/completions", "POST", body) },
  {
    name: "rate-limit view: route, begin, observe, finish",
    run: () => {
      view.route(key, 30);
      const s = view.begin(key, 30, 30);
      view.finish(key, s, observe(upstreamHeaders, provider.rateLimit));
    },
  },
  { name: "request header hygiene", run: () => upstreamRequestHeaders(incoming, authHeadersFor(provider, secret), provider) },
  { name: "response header copy + new Response", run: () => new Response(null, { status: 200, headers: callerResponseHeaders(upstreamHeaders) }) },
  {
    name: "log line",
    run: () =>
      toLogEntry({
        provider_config_key: "openai",
        connection_id: "tenant-42",
        type: "proxy",
        status: "success",
        http_status: 200,
        duration_ms: 1,
        started_at: Date.now(),
        method: "POST",
        path: "/v1/chat/completions",
        request_id: "req_123",
        detail: null,
      }),
  },
  {
    name: "usage read of a JSON answer",
    run: () => {
      const c = createJsonCollector(usageRules);
      c.push(answer);
      return c.end();
    },
  },
];
