import { type JobContext, mayResendInterrupted } from "../jobs/context";
import { ACTION_RUN_STATUS, type ActionRunStatus } from "../jobs/status";
import { type JobRow, RESULT_BODY_LIMIT } from "../jobs/store";
import { ApiError } from "../errors";
import { emitAsyncActionEvent } from "../events/async-action";
import { getProvider } from "../providers/catalog";
import { loadConnectionSecret } from "../store/connection-secret";
import { capReachedError } from "../usage/caps";
import { ActionWait, createObjectCaller } from "./object-caller";
import { ActionUpstreamError } from "./types";
import { iso } from "../lib/iso-time";

/** What a failed run keeps: terapi's code and message, the provider's status and body when it refused. */
export type ActionError = { code: string; message: string; status?: number; details?: unknown };

const failureOf = (err: unknown): ActionError => {
  if (err instanceof ActionUpstreamError) return { code: err.code, message: err.message, status: err.upstreamStatus, details: err.providerBody() };
  if (err instanceof ApiError)
    return { code: err.code, message: err.message, status: err.status, ...(err.details === undefined ? {} : { details: err.details }) };
  return { code: "internal_error", message: "The action failed" };
};

const INTERRUPTED: ActionError = {
  code: "interrupted",
  message:
    "terapi restarted while the action's call was at the provider: it may or may not have run, and it was not sent again (send X-Max-Retries to allow that)",
};

/**
 * One attempt of an async action inside the connection's object. A rate
 * limit (or a backoff) puts it back to sleep until the alarm at the reset;
 * anything else ends it, and the outcome goes out as an `async_action` event.
 */
export async function runActionJob(ctx: JobContext, job: JobRow): Promise<void> {
  const { env, jobs } = ctx;
  const started = Date.now();
  const secret = await loadConnectionSecret(env, ctx.providerConfigKey, ctx.connectionId);
  const provider = secret ? getProvider(secret.provider) : undefined;
  // Loaded on the first run, not when the Worker starts: the actions' schemas are built with it (./catalog.ts).
  const { findAction, parseInput, performAction } = await import("./perform");
  const action = provider && job.action ? findAction(provider, job.action) : undefined;
  // A webhook that cannot be stored must not undo the run's result.
  const finish = (error: ActionError | null, interrupted = false) => {
    // Into the connection's log like a live run, written straight to this object's store.
    ctx.log({
      provider_config_key: ctx.providerConfigKey,
      connection_id: ctx.connectionId,
      type: "action",
      status: error ? "failure" : "success",
      http_status: error ? (error.status ?? null) : 200,
      duration_ms: Date.now() - started,
      started_at: started,
      retries: Math.max(0, job.attempts),
      detail: `${job.action ?? "?"} (async)${error ? `: ${error.code}` : ""}`,
    });
    return emitAsyncActionEvent(env, {
      id: job.id,
      action_name: job.action ?? "",
      provider_config_key: ctx.providerConfigKey,
      connection_id: ctx.connectionId,
      provider: secret?.provider ?? "unknown",
      status: ACTION_RUN_STATUS[interrupted ? "interrupted" : error ? "failed" : "completed"],
      error: error ? { code: error.code, message: error.message } : null,
    }).catch(() => undefined);
  };
  const fail = (error: ActionError) => {
    jobs.fail(job.id, JSON.stringify(error));
    return finish(error);
  };
  if (!mayResendInterrupted(job)) {
    jobs.interrupt(job.id);
    return finish(INTERRUPTED, true);
  }
  if (!secret || !provider) return fail({ code: "unknown_connection", message: "The connection no longer exists" });
  if (!action) return fail({ code: "unknown_action", message: `No action '${job.action}'` });
  // Like a live action: a capped connection's run never reaches the provider.
  const capped = await ctx.usage?.capReached();
  if (capped) return fail(failureOf(capReachedError(ctx.connectionId, capped)));

  const call = createObjectCaller({
    env,
    limiter: ctx.limiter,
    provider,
    secret,
    attempts: job.attempts,
    retries: job.retries,
    backoffAllowed: job.backoffAllowed,
    now: ctx.now,
    onSend: (method) => jobs.startAttempt(job.id, method),
    countUsage: ctx.usage?.count,
  });
  let output: unknown;
  try {
    const raw = job.body ? (JSON.parse(new TextDecoder().decode(job.body)) as unknown) : {};
    output = await performAction(action, parseInput(action, raw), call);
  } catch (err) {
    if (err instanceof ActionWait) return jobs.wait(job.id, err.at);
    return fail(failureOf(err));
  }
  const bytes = new TextEncoder().encode(JSON.stringify(output));
  if (bytes.byteLength > RESULT_BODY_LIMIT)
    return fail({ code: "output_too_large", message: `The output is larger than ${RESULT_BODY_LIMIT} bytes; use the proxy for it` });
  jobs.complete(job.id, { status: 200, headers: [["content-type", "application/json"]], body: bytes.buffer as ArrayBuffer, truncated: false });
  return finish(null);
}

export type ActionRunView = {
  id: string;
  object: "action_run";
  action_name: string;
  status: ActionRunStatus;
  output?: unknown;
  error?: ActionError;
  attempts: number;
  created_at: string;
  updated_at: string;
  /** While pending: when it runs next (a rate-limit reset, a backoff). */
  next_attempt_at: string | null;
};

function storedError(text: string): ActionError {
  try {
    const parsed = JSON.parse(text) as ActionError;
    if (typeof parsed?.code === "string") return parsed;
  } catch {
    // Written by the object's catch-all (a plain message).
  }
  return { code: "internal_error", message: text };
}

/** The public shape of an action run at `GET /action/:id`. */
export function actionRunView(job: JobRow): ActionRunView {
  const status = ACTION_RUN_STATUS[job.status];
  return {
    id: job.id,
    object: "action_run",
    action_name: job.action ?? "",
    status,
    ...(status === "succeeded" && job.result ? { output: JSON.parse(new TextDecoder().decode(job.result.body)) as unknown } : {}),
    ...(status === "failed" ? { error: storedError(job.error ?? "internal_error") } : {}),
    ...(status === "interrupted" ? { error: INTERRUPTED } : {}),
    attempts: job.attempts,
    created_at: iso(job.createdAt),
    updated_at: iso(job.updatedAt),
    next_attempt_at: status === "pending" && job.dueAt !== null ? iso(job.dueAt) : null,
  };
}
