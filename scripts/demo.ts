#!/usr/bin/env node
// `npm run demo`: the whole product in one command, offline. Starts the OpenAI
// simulator, terapi's deploy bundle on Miniflare (local KV and Durable Objects,
// generated secrets, free ports) and a webhook receiver standing in for your
// backend, then walks through what a user does, printing each step.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import OpenAI from "openai";
import { killAllChildrenSync, stopAllChildren } from "./lib/procs.ts";
import { startSimulator } from "./lib/simulator.ts";
import { bundle, newSecrets, startMiniflare, type RunningTerapi } from "./lib/terapi.ts";
import { startReceiver, type ReceivedRequest } from "../test/harness/receiver.ts";

const root = resolve(import.meta.dirname, "..");
const t0 = Date.now();
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
let stepNo = 0;
const step = (title: string) => console.log(`\n${bold(`${++stepNo}. ${title}`)} ${dim(`(+${((Date.now() - t0) / 1000).toFixed(1)} s)`)}`);
const say = (line: string) => console.log(`   ${line}`);
const skip = (why: string) => say(`skipped: ${why}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function poll<T>(what: string, check: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const tmp = mkdtempSync(resolve(tmpdir(), "terapi-demo-"));
const secrets = newSecrets();
let terapi: RunningTerapi | undefined;
let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;

async function cleanup() {
  await terapi?.stop().catch(() => undefined);
  await receiver?.close().catch(() => undefined);
  await stopAllChildren();
  rmSync(tmp, { recursive: true, force: true });
}
process.on("exit", killAllChildrenSync);
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.on(sig, () => {
    void cleanup().then(() => process.exit(130));
  });

type Json = Record<string, unknown>;
let origin = "";
async function api<T = Json>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${origin}${path}`, {
    method,
    headers: { authorization: `Bearer ${secrets.secretKey}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed as T };
}
/** A route that is not there (feature not built in this checkout) answers terapi's own 404 `not_found`. */
const missingRoute = (r: { status: number; body: unknown }) => r.status === 404 && JSON.stringify(r.body).includes('"code":"not_found"');

async function main() {
  step("Start the OpenAI simulator, a webhook receiver (your backend) and terapi");
  const sim = await startSimulator(root, () => undefined);
  say(`OpenAI simulator     ${sim.url}`);
  receiver = await startReceiver({ port: 0, host: "127.0.0.1" });
  say(`webhook receiver     ${receiver.url}/backend`);
  // TERAPI_DEMO_BUNDLE_DIR: a deploy bundle already built (the test suite builds one per run and hands it over).
  const given = process.env.TERAPI_DEMO_BUNDLE_DIR;
  const built = given ? { dir: given, ms: 0 } : await bundle(root, tmp);
  const bundleDir = built.dir;
  terapi = await startMiniflare({ root, bundleDir, simUrl: sim.url, secrets, directSocket: false });
  origin = terapi.origin;
  say(`terapi               ${origin}  (${given ? "bundle given" : `bundle built in ${(built.ms / 1000).toFixed(1)} s`}; secret key generated for this run)`);
  const received = async (): Promise<ReceivedRequest[]> =>
    ((await (await fetch(`${receiver?.url}/__receiver/received?id=backend`)).json()) as { requests: ReceivedRequest[] }).requests;
  await fetch(`${receiver.url}/__receiver/script`, { method: "POST", body: JSON.stringify({ id: "backend", responses: [] }) });

  step("Point outgoing webhooks at your backend: PATCH /environment");
  const envRes = await api<{ webhook_secret: string }>("PATCH", "/environment", { webhook_url: `${receiver.url}/backend` });
  say(`webhook_url set; deliveries are signed with ${envRes.body.webhook_secret.slice(0, 10)}… (Standard Webhooks)`);

  step("Create an integration: POST /integrations");
  const integ = await api("POST", "/integrations", { unique_key: "openai", provider: "openai", display_name: "OpenAI" });
  say(`${integ.status} ${JSON.stringify(integ.body)}`);

  step("Create a connection for tenant-42 (the key is verified with OpenAI first): POST /connections");
  const apiKey = await sim.createKey({ requests: { limit: 600, window_ms: 60_000 }, tokens: { limit: 1_000_000, window_ms: 60_000 } });
  const whsec = `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64")}`;
  const conn = await api<{ credentials: { apiKey: string } }>("POST", "/connections", {
    provider_config_key: "openai",
    connection_id: "tenant-42",
    credentials: { type: "API_KEY", apiKey },
    connection_config: { webhook_secret: whsec },
    end_user: { id: "user-42", email: "ada@example.com" },
  });
  say(`${conn.status}: stored encrypted in KV; the API shows it masked: ${conn.body.credentials.apiKey}`);
  const bad = await api<{ error: { code: string; message: string } }>("POST", "/connections", {
    provider_config_key: "openai",
    connection_id: "tenant-43",
    credentials: { type: "API_KEY", apiKey: "sk-not-a-real-key-0000" },
  });
  say(`a wrong key is refused: ${bad.status} ${bad.body.error.code}: ${bad.body.error.message.slice(0, 90)}…`);

  const headers = { "Connection-Id": "tenant-42", "Provider-Config-Key": "openai" };
  const client = new OpenAI({ baseURL: `${origin}/proxy/v1`, apiKey: secrets.secretKey, defaultHeaders: headers, maxRetries: 0 });

  step("Call OpenAI on tenant-42's behalf with the official SDK (baseURL = terapi's /proxy/v1)");
  const { data: completion, response } = await client.chat.completions
    .create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Say hello to a newcomer." }] })
    .withResponse();
  say(`assistant: ${JSON.stringify(completion.choices[0]?.message.content)}`);
  say(`x-request-id ${response.headers.get("x-request-id")}, x-ratelimit-remaining-requests ${response.headers.get("x-ratelimit-remaining-requests")}`);

  step("Stream a completion (SSE passes through chunk by chunk)");
  const stream = await client.chat.completions.create({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "Count to five." }] });
  let chunks = 0;
  let text = "";
  for await (const chunk of stream) {
    chunks++;
    text += chunk.choices[0]?.delta?.content ?? "";
  }
  say(`${chunks} chunks: ${JSON.stringify(text)}`);

  step("Sync a model and read its records: POST /sync/trigger, GET /sync/status, GET /records");
  const trig = await api("POST", "/sync/trigger", { syncs: ["models"], provider_config_key: "openai", connection_id: "tenant-42" });
  if (missingRoute(trig)) skip("syncs are not built in this checkout yet (POST /sync/trigger is not routed)");
  else if (trig.status >= 300) say(`POST /sync/trigger → ${trig.status} ${JSON.stringify(trig.body)}`);
  else {
    type Status = { syncs: Array<{ name: string; status: string; recordCount: Record<string, number>; latestResult: Record<string, unknown> }> };
    const done = await poll("the models sync", async () => {
      const s = await api<Status>("GET", "/sync/status?provider_config_key=openai&connection_id=tenant-42&syncs=models");
      const row = s.body.syncs?.[0];
      return row && (row.status === "SUCCESS" || row.status === "ERROR") ? row : undefined;
    });
    say(`sync models: ${done.status}, latest result ${JSON.stringify(done.latestResult)}, records ${JSON.stringify(done.recordCount)}`);
    const recs = await api<{ records: Array<{ id: string; _nango_metadata: { last_action: string } }> }>(
      "GET",
      "/records?model=models&limit=5",
      undefined,
      headers,
    );
    say(`GET /records?model=models&limit=5 → ${recs.status}: ${recs.body.records?.map((r) => `${r.id} (${r._nango_metadata.last_action})`).join(", ")}`);
  }

  step("Run an action with validated input and output: POST /action/trigger");
  const action = await api<Json>(
    "POST",
    "/action/trigger",
    { action_name: "create-embedding", input: { model: "text-embedding-3-small", input: "terapi" } },
    headers,
  );
  if (missingRoute(action)) skip("actions are not built in this checkout yet (POST /action/trigger is not routed)");
  else {
    const emb = (action.body.data as Array<{ embedding?: number[] }> | undefined)?.[0]?.embedding;
    say(`create-embedding → ${action.status}: ${emb ? `${emb.length}-dimension embedding` : JSON.stringify(action.body).slice(0, 160)}`);
    const invalid = await api<{ error: { code: string } }>("POST", "/action/trigger", { action_name: "create-embedding", input: { model: 42 } }, headers);
    say(`bad input → ${invalid.status} ${invalid.body.error?.code}`);
  }

  step("Receive OpenAI's signed webhook: a batch completes, terapi verifies it and forwards it to your backend");
  await fetch(`${sim.url}/__sim/webhooks`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ key: apiKey, secret: whsec, url: `${origin}/webhook/openai/tenant-42` }),
  });
  const form = new FormData();
  const line = JSON.stringify({
    custom_id: "r1",
    method: "POST",
    url: "/v1/chat/completions",
    body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] },
  });
  form.append("purpose", "batch");
  form.append("file", new File([`${line}\n`], "batch.jsonl", { type: "application/jsonl" }));
  const file = await client.files.create({ file: form.get("file") as File, purpose: "batch" });
  const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
  say(`uploaded ${file.id} and created ${batch.id} through the proxy`);
  await fetch(`${sim.url}/__sim/advance`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ key: apiKey, batch_id: batch.id, to: "completed" }),
  });
  const forward = await poll("the forward event", async () =>
    (await received()).map((r) => JSON.parse(r.body) as Json).find((e) => e.type === "forward" && JSON.stringify(e.payload).includes("batch.completed")),
  );
  say(`your backend got: type=forward, payload.type=${(forward.payload as Json).type}, batch ${((forward.payload as Json).data as Json).id}`);

  step("Let an end user connect their own key: POST /connect/sessions, then the hosted page");
  const session = await api<{ data: { token: string; connect_link: string; expires_at: string } }>("POST", "/connect/sessions", {
    end_user: { id: "user-77", email: "grace@example.com" },
  });
  say(`connect_link ${session.body.data.connect_link.replace(/token=.*/, "token=…")} (expires ${session.body.data.expires_at})`);
  // As a browser does: the link sets the session cookie and redirects to the clean /connect.
  const opened = await fetch(session.body.data.connect_link, { redirect: "manual" });
  const cookie = (opened.headers.get("set-cookie") ?? "").split(";")[0];
  say(`open the link → ${opened.status} to ${opened.headers.get("location")} (the token traded for an HttpOnly cookie)`);
  const pageRes = await fetch(`${origin}/connect`, { headers: { cookie } });
  say(`GET the page → ${pageRes.status} ${pageRes.headers.get("content-type")} (a plain HTML form; no JavaScript)`);
  const endUserKey = await sim.createKey({ requests: { limit: 60, window_ms: 60_000 }, tokens: { limit: 100_000, window_ms: 60_000 } });
  const posted = await fetch(`${origin}/connect`, {
    method: "POST",
    headers: { cookie },
    body: new URLSearchParams({ integration: "openai", api_key: endUserKey }),
  });
  say(`the form posted with the end user's key → ${posted.status} ${/<h1>([^<]*)<\/h1>/.exec(await posted.text())?.[1] ?? ""}`);
  const mine = await api<{ connections: Array<{ connection_id: string; end_user: { id: string } }> }>("GET", "/connections?end_user_id=user-77");
  say(`GET /connections?end_user_id=user-77 → connection ${mine.body.connections[0]?.connection_id}`);

  step("What your backend heard (outgoing webhooks)");
  await poll("auth webhooks", async () => ((await received()).filter((r) => r.body.includes('"auth"')).length >= 3 ? true : undefined));
  for (const r of await received()) {
    const e = JSON.parse(r.body) as Json;
    const p = (e.payload ?? {}) as Json;
    say(
      `${String(e.type).padEnd(8)} ${String(e.connection_id ?? "").padEnd(38)} ${e.type === "sync" ? JSON.stringify(p).slice(0, 80) : String(p.operation ?? p.type ?? "")}  (webhook-id ${r.headers["webhook-id"]})`,
    );
  }

  step("The operation log: GET /logs?provider_config_key=openai&connection_id=tenant-42");
  await sleep(400); // lines are written in the background, batched
  const logs = await api<{ logs: Array<Record<string, string | number | null>> }>("GET", "/logs?provider_config_key=openai&connection_id=tenant-42&limit=20");
  for (const l of [...logs.body.logs].reverse())
    say(
      `${String(l.created_at).slice(11, 23)} ${String(l.type).padEnd(8)} ${String(l.status).padEnd(7)} ${String(l.http_status ?? "").padEnd(3)} ` +
        `${String(l.duration_ms).padStart(4)} ms  retries ${l.retries}  ${l.method ? `${l.method} ` : ""}${l.path ?? l.detail ?? ""}${l.request_id ? `  ${l.request_id}` : ""}`,
    );

  step("Done");
  say(`dashboard: ${origin}/dashboard (log in with the secret key) · API docs: ${origin}/docs`);
  say(`the whole tour took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

main()
  .then(cleanup)
  .then(() => process.exit(0))
  .catch(async (err: unknown) => {
    console.error(`\ndemo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    if (terapi) console.error(`terapi's last output:\n${terapi.tail()}`);
    await cleanup();
    process.exit(1);
  });
