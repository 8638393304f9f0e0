import type { OperationInput } from "../logs/types";
import type { RateLimiter } from "../proxy/rate-limiter";
import { isIdempotent } from "../proxy/retry-policy";
import type { CapState } from "../usage/caps";
import type { UsageSample } from "../usage/types";
import type { JobRow, JobStore } from "./store";

/** The connection's usage ledger, as work running inside its object sees it (no round trip). */
export type JobUsage = {
  /** Counts one upstream answer (cap webhooks included); never throws. */
  count(sample: UsageSample): Promise<void>;
  /** The cap's state when the connection's cap is reached; null otherwise (or without a cap). */
  capReached(): Promise<CapState | null>;
};

/** What a job's run gets from the connection's object that runs it (src/proxy/async-job.ts, src/actions/job.ts). */
export type JobContext = {
  env: Env;
  /** Writes a line to this connection's operation log (the object's own store: no round trip). */
  log: (line: OperationInput) => void;
  jobs: JobStore;
  limiter: RateLimiter;
  providerConfigKey: string;
  connectionId: string;
  usage?: JobUsage;
  now?: () => number;
};

/**
 * The object died while this job's call (`job.inFlight`) was at the provider:
 * it may have run. As on the live proxy, it is sent again only when that is
 * safe (an idempotent method) or the caller allowed it (Idempotency-Key,
 * Retries), and only within the retries the caller gave it.
 */
export function mayResendInterrupted(job: JobRow): boolean {
  if (job.inFlight === null) return true;
  return (isIdempotent(job.inFlight) || job.backoffAllowed) && job.attempts <= job.retries;
}
