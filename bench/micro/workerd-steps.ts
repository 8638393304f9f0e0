// Steps of a proxied call timed inside workerd (`npm run bench -- --micro --workerd`):
// Headers, Response, AbortController, timers and URL are workerd's own here, not
// Node's. The Worker (bench/micro-workerd.ts) runs step `i` n times per request;
// the harness reads workerd's CPU time around it.
import { callerResponse, callerResponseHeaders, upstreamRequestHeaders, authHeadersFor } from "../../src/proxy/headers";
import { observe } from "../../src/proxy/observation";
import { confinePath, upstreamUrl } from "../../src/proxy/path";
import { getProvider } from "../../src/providers/catalog";
import { authorizeSecretKey } from "../../src/middleware/secret-key-auth";
import { retryOptions } from "../../src/proxy/retry-policy";
import type { ConnectionSecret } from "../../src/store/connection-secret";
import { createJsonCollector, readJsonAnswer } from "../../src/usage/extract";

const provider = getProvider("openai")!;
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
  date: "Tue, 01 Dec 2026 20:00:00 GMT",
  connection: "keep-alive",
  "keep-alive": "timeout=5",
});
const upstream = new Response(null, { status: 200, headers: upstreamHeaders });
const answer = new Uint8Array(600).buffer;
/** A chat completion as the simulator sends it, and one with a 12 KiB message (still a small answer: <= 16 KiB). */
const chatAnswer = (content: string) =>
  new TextEncoder().encode(
    JSON.stringify({
      id: "chatcmpl-abc123",
      object: "chat.completion",
      created: 1764619200,
      model: "gpt-4o-mini-2024-07-18",
      choices: [{ index: 0, message: { role: "assistant", content, refusal: null }, logprobs: null, finish_reason: "stop" }],
      usage: {
        prompt_tokens: 14,
        completion_tokens: 9,
        total_tokens: 23,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
      },
      service_tier: "default",
      system_fingerprint: "fp_1234567890",
    }),
  );
const shortAnswer = chatAnswer("Hello! How can I help you today?");
const longAnswer = chatAnswer("Lorem ipsum dolor sit amet, ".repeat(440));
const collected = (bytes: Uint8Array) => {
  const scan = createJsonCollector(provider.usage!);
  scan.push(bytes);
  return scan.end();
};
const secret: ConnectionSecret = {
  providerConfigKey: "openai",
  connectionId: "tenant-42",
  provider: "openai",
  credentials: { type: "API_KEY", apiKey: "sk-test" },
  config: {},
};
const auth = authHeadersFor(provider, secret);
const DROP = [
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-encoding",
  "x-listed",
];
const SKIP = new Set([
  ...DROP,
  "authorization",
  "connection-id",
  "provider-config-key",
  "retries",
  "retry-on",
  "async",
  "host",
  "cookie",
  "accept-encoding",
  "content-length",
]);

// Made in `prepare` (a Request with a body cannot be made at global scope).
let request: Request;
const env = { TERAPI_SECRET_KEY: "sk_terapi_secret" } as Env;
/** Run once, inside a request (no I/O at global scope): the key accepted once (a digest), then remembered, as the steps time it. */
export async function prepare(): Promise<void> {
  request = new Request("http://127.0.0.1:8787/proxy/v1/chat/completions", { method: "POST", headers: incoming, body });
  await authorizeSecretKey(request, env);
}

export type Step = { name: string; run: () => unknown };

export const steps: Step[] = [
  { name: "(empty loop)", run: () => 0 },
  { name: "secret-key check, a key already accepted (authorizeSecretKey)", run: () => authorizeSecretKey(request, env) },
  { name: "req.headers + req.url + req.method (getters)", run: () => (request.headers, request.url.length + request.method.length) },
  { name: "retryOptions (Retries, Retry-On, Idempotency-Key)", run: () => retryOptions(incoming, "POST", provider.retry) },
  {
    name: "an async function awaited (a resolved value)",
    run: async () => {
      await (async () => 1)();
    },
  },
  { name: "Date.now()", run: () => Date.now() },
  { name: "headers.get (present)", run: () => incoming.get("connection-id") },
  { name: "headers.get (absent)", run: () => incoming.get("base-url-override") },
  { name: "request header hygiene (upstreamRequestHeaders)", run: () => upstreamRequestHeaders(incoming, auth, provider) },
  { name: "new Headers(incoming) (copy alone)", run: () => new Headers(incoming) },
  { name: "iterate incoming headers", run: () => [...incoming].length },
  {
    name: "forEach over incoming headers",
    run: () => {
      let k = 0;
      incoming.forEach((v) => (k += v.length));
      return k;
    },
  },
  {
    name: "request headers: forEach, append the kept to a new Headers",
    run: () => {
      const out = new Headers();
      incoming.forEach((v, n) => {
        if (!SKIP.has(n) && !n.startsWith("nango-") && !n.startsWith("terapi-proxy-")) out.append(n, v);
      });
      for (const n in auth) out.set(n, auth[n]!);
      return out;
    },
  },
  {
    name: "request headers: forEach into a plain record (what fetch could take)",
    run: () => {
      const o: Record<string, string> = {};
      incoming.forEach((v, n) => {
        if (!SKIP.has(n) && !n.startsWith("nango-") && !n.startsWith("terapi-proxy-")) o[n] = v;
      });
      return Object.assign(o, auth);
    },
  },
  { name: "caller response headers (callerResponseHeaders)", run: () => callerResponseHeaders(upstreamHeaders) },
  { name: "caller Response from bytes (callerResponse)", run: () => callerResponse(upstream, answer) },
  {
    name: "caller Response from bytes, as before 2ebd27f (a JS Headers copy, then a Response from it)",
    run: () => new Response(answer, { status: upstream.status, statusText: upstream.statusText, headers: callerResponseHeaders(upstream.headers) }),
  },
  { name: "new Response(bytes, upstream) (no filtering)", run: () => new Response(answer, upstream) },
  { name: "new Response(bytes, {status})", run: () => new Response(answer, { status: 200 }) },
  { name: "observe (rate-limit headers)", run: () => observe(upstreamHeaders, provider.rateLimit, 1) },
  {
    name: "AbortController + setTimeout + clearTimeout",
    run: () => {
      const c = new AbortController();
      clearTimeout(setTimeout(() => c.abort(), 600_000));
      return c.signal;
    },
  },
  {
    name: "AbortController + setTimeout (not cleared)",
    run: () => {
      const c = new AbortController();
      setTimeout(() => c.abort(), 600_000);
      return c.signal;
    },
  },
  { name: "AbortSignal.timeout", run: () => AbortSignal.timeout(600_000) },
  { name: "setTimeout (not cleared; nodejs_compat's Timeout wrapper)", run: () => setTimeout(() => {}, 600_000) },
  { name: "scheduler.wait (workerd's native timer promise)", run: () => scheduler.wait(600_000) },
  {
    name: "scheduler.wait + .then (a timeout raced, not cleared)",
    run: () => scheduler.wait(600_000).then(() => {}),
  },
  { name: "new AbortController", run: () => new AbortController().signal },
  {
    name: "new Response(bytes, upstream) + delete 10 names on its headers",
    run: () => {
      const r = new Response(answer, upstream);
      const h = r.headers;
      for (const n of DROP) h.delete(n);
      return r;
    },
  },
  {
    name: "10 × upstream.headers.has",
    run: () => {
      let k = 0;
      for (const n of DROP) if (upstreamHeaders.has(n)) k++;
      return k;
    },
  },
  {
    name: "request headers: one pass into a plain record + new Headers(record)",
    run: () => {
      const o: Record<string, string> = {};
      for (const [n, v] of incoming) if (!SKIP.has(n) && !n.startsWith("nango-") && !n.startsWith("terapi-proxy-")) o[n] = v;
      Object.assign(o, auth);
      return new Headers(o);
    },
  },
  {
    name: "request headers: one pass into a plain record (no Headers)",
    run: () => {
      const o: Record<string, string> = {};
      for (const [n, v] of incoming) if (!SKIP.has(n) && !n.startsWith("nango-") && !n.startsWith("terapi-proxy-")) o[n] = v;
      return Object.assign(o, auth);
    },
  },
  {
    name: "request headers: keys() pass, copy, delete the found",
    run: () => {
      const drop: string[] = [];
      for (const n of incoming.keys()) if (SKIP.has(n) || n.startsWith("nango-") || n.startsWith("terapi-proxy-")) drop.push(n);
      const h = new Headers(incoming);
      for (const n of drop) h.delete(n);
      for (const n in auth) h.set(n, auth[n]!);
      return h;
    },
  },
  { name: "new URL(target)", run: () => new URL("http://127.0.0.1:18801/v1/chat/completions") },
  { name: "path: confinement + upstream URL", run: () => upstreamUrl("http://127.0.0.1:18801", confinePath("/v1/chat/completions"), "") },
  { name: "usage of a small answer (0.5 KiB), as before c9a7bfb (createJsonCollector, at the flush)", run: () => collected(shortAnswer) },
  { name: "usage of a small answer (0.5 KiB), readJsonAnswer", run: () => readJsonAnswer(shortAnswer, provider.usage!) },
  { name: "usage of a small answer (12 KiB), as before c9a7bfb (createJsonCollector, at the flush)", run: () => collected(longAnswer) },
  { name: "usage of a small answer (12 KiB), readJsonAnswer", run: () => readJsonAnswer(longAnswer, provider.usage!) },
  { name: "JSON.parse of the request body (decode + parse)", run: () => JSON.parse(new TextDecoder().decode(body)) },
];
