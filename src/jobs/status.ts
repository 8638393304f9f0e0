/**
 * The one vocabulary of a job's state (async proxy jobs and async action runs
 * alike), as stored. `interrupted`: the object died while the job's call was at
 * the provider and the caller had not allowed a re-send (outcome unknown; it was
 * not sent again). The public words derive from it here, nowhere else.
 */
export type JobStatus = "queued" | "running" | "waiting" | "completed" | "failed" | "interrupted";

/** How a job ended (the `async_proxy` webhook says it in these words). */
export type FinishedStatus = Extract<JobStatus, "completed" | "failed" | "interrupted">;

/** An action run's state in Nango's words (`GET /action/:id`, the `async_action` webhook). */
export const ACTION_RUN_STATUS = {
  queued: "pending",
  waiting: "pending",
  running: "running",
  completed: "succeeded",
  failed: "failed",
  interrupted: "interrupted",
} as const satisfies Record<JobStatus, string>;

export type ActionRunStatus = (typeof ACTION_RUN_STATUS)[JobStatus];
