import type { IncomingMessage, ServerResponse } from "node:http";
import { parseFault } from "../faults.ts";
import { MUTABLE_MODELS, mutate, seed } from "../seed.ts";
import type { MutableModel } from "../seed.ts";
import { statsJson } from "../rate-limit.ts";
import type { KeyKind, Limit, ModelLimits, SimState, Tenant } from "../state.ts";
import { BUILTIN_KEYS, newWebhookSecret } from "../state.ts";
import { isObj, num, str } from "../util.ts";
import type { Obj } from "../util.ts";
import { advanceBatch } from "./batches.ts";
import { advanceJob } from "./fine-tuning.ts";

/** Control API under /__sim/: no auth, JSON in and out, never rate limited or logged. */
function reply(res: ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(s) });
  res.end(s);
}

const KINDS = new Set(["standard", "restricted", "quota", "admin"]);

function limitOf(v: unknown, defaultWindowMs = 60_000): Limit | undefined | string {
  if (v === undefined) return undefined;
  if (!isObj(v)) return "must be {limit, window_ms}";
  const limit = num(v, "limit");
  const window_ms = num(v, "window_ms") ?? defaultWindowMs;
  if (limit === undefined || limit < 0 || window_ms <= 0) return "must be {limit >= 0, window_ms > 0}";
  return { limit, window_ms };
}

const MODEL_LIMITS = ["requests", "tokens", "requests_per_day", "tokens_per_day"] as const;

/** `models`: bucket name → its own limits and the other model names sharing them. */
function modelsOf(v: unknown): Record<string, ModelLimits> | undefined | string {
  if (v === undefined) return undefined;
  if (!isObj(v)) return "models must be an object of model name → limits";
  const out: Record<string, ModelLimits> = {};
  const claimed = new Map<string, string>();
  for (const [name, spec] of Object.entries(v)) {
    if (!isObj(spec)) return `models.${name} must be an object`;
    const m: ModelLimits = {};
    for (const dim of MODEL_LIMITS) {
      const l = limitOf(spec[dim], dim.endsWith("_per_day") ? 86_400_000 : 60_000);
      if (typeof l === "string") return `models.${name}.${dim} ${l}`;
      if (l) m[dim] = l;
    }
    if (spec.members !== undefined) {
      if (!Array.isArray(spec.members) || !spec.members.every((x): x is string => typeof x === "string"))
        return `models.${name}.members must be an array of model names`;
      m.members = spec.members;
    }
    out[name] = m;
  }
  for (const [name, m] of Object.entries(out)) {
    for (const member of m.members ?? []) {
      const other = claimed.get(member) ?? (member !== name && out[member] ? member : undefined);
      if (other) return `models: ${member} cannot be in ${name} and ${other === member ? "its own bucket" : other}`;
      claimed.set(member, name);
    }
  }
  return out;
}

function tenantOr404(sim: SimState, res: ServerResponse, key: string | undefined | null): Tenant | null {
  const t = key ? sim.tenants.get(key) : undefined;
  if (!t) {
    reply(res, 404, { error: `unknown key: ${String(key)}` });
    return null;
  }
  return t;
}

export async function handleControl(sim: SimState, req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
  let body: Obj = {};
  if (req.method === "POST") {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    if (raw.trim()) {
      try {
        const parsed: unknown = JSON.parse(raw);
        if (!isObj(parsed)) return reply(res, 400, { error: "body must be a JSON object" });
        body = parsed;
      } catch {
        return reply(res, 400, { error: "invalid JSON" });
      }
    }
  }
  const route = `${req.method} ${path}`;
  switch (route) {
    case "GET /__sim/health":
      return reply(res, 200, { ok: true });
    case "GET /__sim/keys":
      return reply(res, 200, BUILTIN_KEYS);
    // A key (new, or `key` to change an existing one; what a call leaves out stays). Limits are
    // per bucket: `requests`/`tokens` are the defaults of every bucket; `models` gives a model (or
    // family, with `members`) its own, plus optional `requests_per_day`/`tokens_per_day`;
    // `chars_per_token` sizes the prompt estimate. See rate-limit.ts for how requests are charged.
    case "POST /__sim/keys": {
      const kind = str(body, "kind");
      if (kind !== undefined && !KINDS.has(kind)) return reply(res, 400, { error: "kind must be standard|restricted|quota|admin" });
      const requests = limitOf(body.requests);
      const tokens = limitOf(body.tokens);
      if (typeof requests === "string") return reply(res, 400, { error: `requests ${requests}` });
      if (typeof tokens === "string") return reply(res, 400, { error: `tokens ${tokens}` });
      const models = modelsOf(body.models);
      if (typeof models === "string") return reply(res, 400, { error: models });
      const cpt = body.chars_per_token;
      if (cpt !== undefined && !(typeof cpt === "number" && cpt > 0)) return reply(res, 400, { error: "chars_per_token must be a number > 0" });
      const t = sim.createKey({
        key: str(body, "key"),
        kind: kind as KeyKind | undefined,
        requests,
        tokens,
        models,
        charsPerToken: cpt,
        batchStepMs: num(body, "batch_step_ms"),
      });
      return reply(res, 200, {
        key: t.key,
        kind: t.kind,
        organization_id: t.orgId,
        requests: t.requests,
        tokens: t.tokens,
        models: t.models,
        chars_per_token: t.charsPerToken,
        batch_step_ms: t.batchStepMs,
      });
    }
    case "POST /__sim/faults": {
      const t = tenantOr404(sim, res, str(body, "key"));
      if (!t) return;
      const f = parseFault(body);
      if (typeof f === "string") return reply(res, 400, { error: f });
      t.faults.push(f);
      return reply(res, 200, { ok: true, pending: t.faults.length });
    }
    case "DELETE /__sim/faults": {
      const t = tenantOr404(sim, res, query.get("key"));
      if (!t) return;
      t.faults.length = 0;
      return reply(res, 200, { ok: true });
    }
    case "GET /__sim/requests":
      return reply(res, 200, sim.logs.get(query.get("key") ?? "") ?? []);
    case "DELETE /__sim/requests": {
      const key = query.get("key") ?? "";
      sim.logs.delete(key);
      sim.stats.delete(key);
      return reply(res, 200, { ok: true });
    }
    case "GET /__sim/stats": {
      const s = sim.stats.get(query.get("key") ?? "");
      return reply(res, 200, { requests: s?.requests ?? 0, by_status: s?.by_status ?? {}, ...statsJson(s?.buckets ?? new Map()) });
    }
    case "POST /__sim/webhooks": {
      const t = tenantOr404(sim, res, str(body, "key"));
      if (!t) return;
      const url = str(body, "url");
      if (url !== undefined && !/^https?:\/\//.test(url)) return reply(res, 400, { error: "url must be http(s)" });
      const secret = str(body, "secret");
      if (secret !== undefined && !secret.startsWith("whsec_")) return reply(res, 400, { error: "secret must start with whsec_" });
      t.webhook = { url: url || undefined, secret: secret ?? (t.webhook.secret || newWebhookSecret()) };
      return reply(res, 200, { key: t.key, url: t.webhook.url ?? null, secret: t.webhook.secret });
    }
    case "GET /__sim/webhooks": {
      const t = tenantOr404(sim, res, query.get("key"));
      if (!t) return;
      return reply(res, 200, t.events);
    }
    case "POST /__sim/advance": {
      const t = tenantOr404(sim, res, str(body, "key"));
      if (!t) return;
      const to = str(body, "to");
      const batchId = str(body, "batch_id");
      const jobId = str(body, "job_id");
      const rec = batchId ? t.batches.get(batchId) : jobId ? t.jobs.get(jobId) : undefined;
      if (!rec) return reply(res, 404, { error: `unknown ${batchId ? "batch" : "job"}: ${String(batchId ?? jobId)}` });
      const err = batchId ? advanceBatch(sim, t, rec, to) : advanceJob(sim, t, rec, to);
      if (err) return reply(res, 409, { error: err, object: rec.obj });
      return reply(res, 200, rec.obj);
    }
    case "POST /__sim/seed": {
      const t = tenantOr404(sim, res, str(body, "key"));
      if (!t) return;
      const n = (k: string) => num(body, k);
      return reply(
        res,
        200,
        seed(t, {
          files: n("files"),
          batches: n("batches"),
          fine_tuning_jobs: n("fine_tuning_jobs"),
          vector_stores: n("vector_stores"),
          projects: n("projects"),
          users: n("users"),
          cost_days: n("cost_days"),
        }),
      );
    }
    case "POST /__sim/mutate": {
      const t = tenantOr404(sim, res, str(body, "key"));
      if (!t) return;
      const model = str(body, "model") as MutableModel | undefined;
      if (!model || !MUTABLE_MODELS.includes(model)) return reply(res, 400, { error: `model must be one of ${MUTABLE_MODELS.join("|")}` });
      const sel = (v: unknown): string[] | number | undefined =>
        typeof v === "number" ? v : Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : undefined;
      return reply(res, 200, mutate(t, model, sel(body.update), sel(body.remove)));
    }
    default:
      return reply(res, 404, { error: `unknown control route ${route}` });
  }
}
