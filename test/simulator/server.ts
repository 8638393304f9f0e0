import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { applyFault, takeFault } from "./faults.ts";
import type { Ctx, Route } from "./http.ts";
import { sendError, sendJson } from "./http.ts";
import { bucketName, bucketStatsOf, peekRate, rateLimitBody, takeRate } from "./rate-limit.ts";
import { Router } from "./router.ts";
import { adminRoutes } from "./routes/admin.ts";
import { audioRoutes } from "./routes/audio.ts";
import { batchRoutes } from "./routes/batches.ts";
import { chatRoutes } from "./routes/chat.ts";
import { handleControl } from "./routes/control.ts";
import { embeddingRoutes } from "./routes/embeddings.ts";
import { fileRoutes } from "./routes/files.ts";
import { fineTuningRoutes } from "./routes/fine-tuning.ts";
import { imageRoutes } from "./routes/images.ts";
import { modelRoutes } from "./routes/models.ts";
import { moderationRoutes } from "./routes/moderations.ts";
import { responseRoutes } from "./routes/responses.ts";
import { vectorStoreRoutes } from "./routes/vector-stores.ts";
import { SimState } from "./state.ts";
import type { RequestLog, Tenant } from "./state.ts";
import { isObj, randomHex, sleep } from "./util.ts";

export const router = new Router()
  .add(modelRoutes)
  .add(chatRoutes)
  .add(responseRoutes)
  .add(embeddingRoutes)
  .add(moderationRoutes)
  .add(imageRoutes)
  .add(audioRoutes)
  .add(fileRoutes)
  .add(batchRoutes)
  .add(fineTuningRoutes)
  .add(vectorStoreRoutes)
  .add(adminRoutes);

const EMPTY = Buffer.alloc(0);
const EMPTY_SHA = createHash("sha256").digest("hex");

function maskKey(key: string): string {
  if (key.length <= 8) return key;
  return key.slice(0, 3) + "*".repeat(Math.max(0, key.length - 7)) + key.slice(-4);
}

function readBody(req: IncomingMessage): Promise<{ body: Buffer; sha: string }> {
  if (req.headers["content-length"] === undefined && req.headers["transfer-encoding"] === undefined) return Promise.resolve({ body: EMPTY, sha: EMPTY_SHA });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const h = createHash("sha256");
    req.on("data", (c: Buffer) => {
      chunks.push(c);
      h.update(c);
    });
    req.on("end", () => resolve({ body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks), sha: h.digest("hex") }));
    req.on("error", reject);
  });
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

async function handleData(sim: SimState, req: IncomingMessage, res: ServerResponse, path: string, rawQuery: string): Promise<void> {
  const started = Date.now();
  const method = req.method ?? "GET";
  const auth = req.headers.authorization;
  const key = auth && /^bearer /i.test(auth) ? auth.slice(7).trim() : "";
  const tenant = sim.tenants.get(key);
  const log: RequestLog = {
    method,
    path,
    query: rawQuery,
    headers: flatHeaders(req),
    body_size: 0,
    body_sha256: EMPTY_SHA,
    status: 0,
    started_at: started,
    ended_at: null,
  };
  const logs = sim.logFor(key);
  if (logs.length >= sim.maxLogPerKey) logs.splice(0, logs.length - sim.maxLogPerKey + 1);
  logs.push(log);
  const stats = sim.statsFor(key);
  stats.requests++;
  res.once("close", () => {
    log.ended_at = Date.now();
    const s = String(log.status);
    stats.by_status[s] = (stats.by_status[s] ?? 0) + 1;
  });

  const { body, sha } = await readBody(req);
  log.body_size = body.length;
  log.body_sha256 = sha;

  const ctx: Ctx = {
    sim,
    req,
    res,
    method,
    path,
    rawQuery,
    query: new URLSearchParams(rawQuery),
    params: {},
    key,
    tenant: tenant as Tenant,
    body,
    json: {},
    started,
    requestId: "req_" + randomHex(32),
    rlHeaders: null,
    dropMidStream: false,
    log,
  };

  if (tenant && tenant.faults.length) {
    const f = takeFault(tenant, method, path);
    if (f && (await applyFault(ctx, f))) return;
  }
  // A real provider takes time to answer: the bench asks for it per request.
  const latency = upstreamLatency(req.headers["x-sim-latency-ms"]);
  if (latency > 0) await sleep(latency);
  if (!tenant) {
    if (!key)
      return sendError(
        ctx,
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        null,
        null,
      );
    return sendError(
      ctx,
      401,
      `Incorrect API key provided: ${maskKey(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
      "invalid_request_error",
      null,
      "invalid_api_key",
    );
  }
  const now = sim.now();
  const m = router.match(method, path);
  if (!m) {
    ctx.rlHeaders = peekRate(tenant, bucketName(tenant, path), now);
    return sendError(ctx, 404, `Invalid URL (${method} ${path})`, "invalid_request_error", null, null);
  }
  const route: Route = m.route;
  ctx.params = m.params;
  if (route.admin && tenant.kind !== "admin") {
    return sendError(
      ctx,
      403,
      "You have insufficient permissions for this operation. Missing scopes: api.management.read. Check that you're using an Admin API key (https://platform.openai.com/settings/organization/admin-keys).",
      "invalid_request_error",
      null,
      null,
    );
  }
  if (tenant.kind === "quota") {
    ctx.rlHeaders = peekRate(tenant, bucketName(tenant, path), now);
    return sendError(
      ctx,
      429,
      "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
      "insufficient_quota",
      null,
      "insufficient_quota",
    );
  }
  if (route.json !== false && body.length && (method === "POST" || method === "PUT" || method === "PATCH")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch {
      ctx.rlHeaders = peekRate(tenant, bucketName(tenant, path), now);
      return sendError(
        ctx,
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
        "invalid_request_error",
        null,
        null,
      );
    }
    if (!isObj(parsed)) {
      ctx.rlHeaders = peekRate(tenant, bucketName(tenant, path), now);
      return sendError(ctx, 400, "Invalid request body: expected a JSON object.", "invalid_request_error", null, null);
    }
    ctx.json = parsed;
  }
  // The limit bucket: the body's model for the endpoints that take one, else the endpoint.
  const model = route.tokens ? ctx.json.model : undefined;
  const bucket = bucketName(tenant, path, typeof model === "string" ? model : undefined);
  const tokens = typeof model === "string" && route.tokens ? route.tokens(ctx.json, tenant.charsPerToken) : 0;
  const d = takeRate(tenant, bucket, tokens, now, bucketStatsOf(stats, bucket));
  ctx.rlHeaders = d.headers;
  if (!d.ok) {
    const retry = String(Math.max(1, Math.ceil((d.resetMs ?? 0) / 1000)));
    return sendJson(ctx, 429, rateLimitBody(d, tenant.orgId), { "retry-after": retry, "retry-after-ms": String(Math.max(0, Math.ceil(d.resetMs ?? 0))) });
  }
  await route.handler(ctx);
}

export interface SimulatorHandle {
  url: string;
  port: number;
  state: SimState;
  close(): Promise<void>;
}

/** Starts the OpenAI simulator. Port 0 picks a free port. */
export async function startSimulator(opts: { port: number; host: string }): Promise<SimulatorHandle> {
  const sim = new SimState();
  const server = createServer({ keepAliveTimeout: 65_000, noDelay: true }, (req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? "" : url.slice(q + 1);
    const p = path.startsWith("/__sim/") ? handleControl(sim, req, res, path, new URLSearchParams(rawQuery)) : handleData(sim, req, res, path, rawQuery);
    p.catch((e: unknown) => {
      if (!res.headersSent) {
        const s = JSON.stringify({ error: { message: `Simulator error: ${String(e)}`, type: "server_error", param: null, code: null } });
        res.writeHead(500, { "content-type": "application/json" });
        res.end(s);
      } else res.destroy();
    });
  });
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${opts.host}:${port}`,
    port,
    state: sim,
    close: () =>
      new Promise<void>((resolve) => {
        sim.shutdown();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** `x-sim-latency-ms`: how long to take before answering (0 when absent or not a number). */
function upstreamLatency(header: string | string[] | undefined): number {
  const n = typeof header === "string" ? Number(header) : 0;
  return Number.isFinite(n) && n > 0 ? Math.min(n, 60_000) : 0;
}
