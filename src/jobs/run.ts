import { runActionJob } from "../actions/job";
import { runJob } from "../proxy/async-job";
import type { JobContext } from "./context";
import type { JobRow } from "./store";

/**
 * Runs the jobs the alarm took, one at a time (they share one budget, and the
 * limiter orders them): an async proxy request or an action run each by its
 * own runner. A run that throws ends its job failed (and is logged through
 * `onError`); the next one still runs.
 */
export async function runJobs(ctx: JobContext, due: JobRow[], onError: (err: unknown) => void): Promise<void> {
  for (const job of due) {
    try {
      await (job.kind === "action" ? runActionJob(ctx, job) : runJob(ctx, job));
    } catch (err) {
      onError(err);
      ctx.jobs.fail(job.id, err instanceof Error ? err.message : "internal_error");
    }
  }
}
