import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import type { ConnectionObject } from "../../src/durable-objects/connection";
import { newJobId } from "../../src/jobs/ids";
import { createJobStore, type NewActionJob, type NewJob } from "../../src/jobs/store";
import { connectionObject } from "../../src/bindings/stubs";
import type { Tenant } from "./connections";

type Job = ({ kind: "proxy" } & NewJob) | ({ kind: "action" } & NewActionJob);

/**
 * What a crash leaves behind: a job stored as its route stores it, taken by
 * the alarm (running) and with its call at the provider (counted, in flight),
 * written by the job store's own steps, with no await between them so no alarm
 * runs it meanwhile. Then the object restarts (evicted: a new instance runs its
 * constructor's recovery) and its alarm runs. Returns the job's id.
 */
export async function crashMidCall(t: Tenant, job: Job, method = "POST"): Promise<string> {
  const stub = connectionObject(env, t.providerConfigKey, t.connectionId);
  const id = await runInDurableObject(stub, (_instance: ConnectionObject, state) => {
    // The job store's own module over the object's storage (the object built its tables when it started):
    // the rows are what the object's store writes, without reaching into the object's private fields.
    const jobs = createJobStore(state.storage.sql);
    state.storage.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('provider_config_key', ?), ('connection_id', ?)", t.providerConfigKey, t.connectionId);
    const { kind, ...input } = job;
    const jobId = newJobId(kind, state.id.toString());
    if (job.kind === "proxy") jobs.insert(jobId, input as NewJob);
    else jobs.insertAction(jobId, input as NewActionJob);
    jobs.takeDue(Date.now() + 1);
    jobs.startAttempt(jobId, method);
    return jobId;
  });
  await evictDurableObject(stub);
  await runDurableObjectAlarm(stub);
  return id;
}
