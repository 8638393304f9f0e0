import type { Ctx, Route } from "../http.ts";
import { missingParam, notFound, parseLimit, sendError, sendJson } from "../http.ts";
import type { LifecycleRec, SimState, Tenant } from "../state.ts";
import { isObj, newId, num, nowSec, str } from "../util.ts";
import type { Obj } from "../util.ts";
import { emitEvent } from "../webhooks.ts";
import { addFile } from "./files.ts";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const NEXT: Record<string, string> = { validating_files: "queued", queued: "running", running: "succeeded" };
export const JOB_TARGETS = ["queued", "running", "succeeded", "failed", "cancelled"];

export function jobObject(
  t: Tenant,
  f: {
    model: string;
    training_file: string;
    validation_file?: string | null;
    suffix?: string | null;
    seed?: number;
    metadata?: Obj | null;
    status?: string;
    created_at?: number;
    id?: string;
  },
): Obj {
  const hp = { batch_size: "auto", learning_rate_multiplier: "auto", n_epochs: "auto" };
  return {
    object: "fine_tuning.job",
    id: f.id ?? newId("ftjob-", 24),
    model: f.model,
    created_at: f.created_at ?? nowSec(),
    finished_at: null,
    fine_tuned_model: null,
    organization_id: t.orgId,
    result_files: [],
    status: f.status ?? "validating_files",
    validation_file: f.validation_file ?? null,
    training_file: f.training_file,
    hyperparameters: hp,
    trained_tokens: null,
    error: null,
    user_provided_suffix: f.suffix ?? null,
    seed: f.seed ?? 42,
    estimated_finish: null,
    integrations: [],
    method: { type: "supervised", supervised: { hyperparameters: hp } },
    metadata: f.metadata ?? null,
  };
}

/** Moves a job to `to` (or its next state) now, and schedules the step after. */
export function advanceJob(sim: SimState, t: Tenant, j: LifecycleRec, to?: string): string | null {
  const o = j.obj;
  const cur = String(o.status);
  if (TERMINAL.has(cur)) return `job is already ${cur}`;
  const next = to ?? NEXT[cur];
  if (!next || !JOB_TARGETS.includes(next)) return `cannot move job to ${String(to)}`;
  sim.cancel(j.timer);
  j.timer = undefined;
  o.status = next;
  if (TERMINAL.has(next)) {
    o.finished_at = nowSec();
    o.estimated_finish = null;
    if (next === "succeeded") {
      o.fine_tuned_model = `ft:${String(o.model)}:${t.orgId.slice(4, 12)}:${String(o.user_provided_suffix ?? "sim")}:${j.id.slice(-8)}`;
      o.trained_tokens = 1234;
      o.result_files = [addFile(t, "step_metrics.csv", "fine-tune-results", Buffer.from("step,train_loss\n1,0.5\n"), "text/csv").id];
    } else if (next === "failed") {
      o.error = { code: "invalid_training_file", message: "The job failed (simulated).", param: "training_file" };
    }
    emitEvent(t, `fine_tuning.job.${next}`, j.id);
    return null;
  }
  if (next === "running") o.estimated_finish = nowSec() + Math.ceil(t.batchStepMs / 1000);
  j.timer = sim.schedule(t.batchStepMs, () => {
    j.timer = undefined;
    advanceJob(sim, t, j);
  });
  return null;
}

function find(ctx: Ctx): LifecycleRec | undefined {
  const j = ctx.tenant.jobs.get(ctx.params.id);
  if (!j) sendError(ctx, 404, `Could not find fine-tune job: ${ctx.params.id}`, "invalid_request_error", "fine_tuning_job_id", "fine_tune_job_not_found");
  return j;
}

export const fineTuningRoutes: Route[] = [
  {
    method: "POST",
    path: "/v1/fine_tuning/jobs",
    handler: (ctx) => {
      const b = ctx.json;
      const model = str(b, "model");
      const training = str(b, "training_file");
      if (!model) return missingParam(ctx, "model");
      if (!training) return missingParam(ctx, "training_file");
      if (!ctx.tenant.files.get(training)) return notFound(ctx, "File", training, "training_file");
      const validation = str(b, "validation_file");
      if (validation && !ctx.tenant.files.get(validation)) return notFound(ctx, "File", validation, "validation_file");
      const obj = jobObject(ctx.tenant, {
        model,
        training_file: training,
        validation_file: validation,
        suffix: str(b, "suffix"),
        seed: num(b, "seed"),
        metadata: isObj(b.metadata) ? b.metadata : null,
      });
      const rec: LifecycleRec = { id: obj.id as string, obj };
      ctx.tenant.jobs.add(rec);
      rec.timer = ctx.sim.schedule(ctx.tenant.batchStepMs, () => {
        rec.timer = undefined;
        advanceJob(ctx.sim, ctx.tenant, rec);
      });
      sendJson(ctx, 200, obj);
    },
  },
  {
    method: "GET",
    path: "/v1/fine_tuning/jobs",
    handler: (ctx) => {
      const limit = parseLimit(ctx, 20, 100);
      if (limit === null) return;
      const page = ctx.tenant.jobs.page({ after: ctx.query.get("after") ?? undefined, limit, order: "desc" });
      sendJson(ctx, 200, { object: "list", data: page.data.map((j) => j.obj), has_more: page.has_more });
    },
  },
  {
    method: "GET",
    path: "/v1/fine_tuning/jobs/:id",
    handler: (ctx) => {
      const j = find(ctx);
      if (j) sendJson(ctx, 200, j.obj);
    },
  },
  {
    method: "POST",
    path: "/v1/fine_tuning/jobs/:id/cancel",
    handler: (ctx) => {
      const j = find(ctx);
      if (!j) return;
      if (TERMINAL.has(String(j.obj.status))) return sendError(ctx, 400, `Job has already ${String(j.obj.status)}.`, "invalid_request_error", null, null);
      advanceJob(ctx.sim, ctx.tenant, j, "cancelled");
      sendJson(ctx, 200, j.obj);
    },
  },
];
