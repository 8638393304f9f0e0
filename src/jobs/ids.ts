/**
 * Ids of work kept in a connection's object (`preq_…` proxy jobs, `act_…`
 * action runs) carry that object's id, so a status route finds the object
 * from the id alone, without connection headers.
 */
import { randomHex } from "../crypto/random";

/** `whd`: an outgoing-webhook delivery, kept in the connection's object it is about. */
export type JobKind = "preq" | "act" | "whd";

export function newJobId(kind: JobKind, objectId: string): string {
  return `${kind}_${objectId}_${randomHex(12)}`;
}

const JOB_ID = /^(preq|act|whd)_([0-9a-f]{64})_[0-9a-f]{8,64}$/;

/** The connection object holding a job of this kind, or null for anything that cannot be one. */
export function jobObject(env: Env, kind: JobKind, id: string) {
  const m = JOB_ID.exec(id);
  if (!m || m[1] !== kind) return null;
  try {
    return env.CONNECTION.get(env.CONNECTION.idFromString(m[2]));
  } catch {
    return null;
  }
}
