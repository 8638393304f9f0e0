/**
 * Ids of what a connection's object keeps (`preq_…` proxy jobs, `act_…`
 * action runs, `whd_…` outgoing-webhook deliveries) carry that object's id,
 * so a status route finds the object from the id alone, without connection headers.
 */
import { randomHex } from "../crypto/random";
import type { JobKind } from "./store";

const PREFIX = { proxy: "preq", action: "act", delivery: "whd" } as const satisfies Record<JobKind | "delivery", string>;

/** A job of either kind, or an outgoing-webhook delivery (not a job, but kept and found the same way). */
type IdKind = keyof typeof PREFIX;

export function newJobId(kind: IdKind, objectId: string): string {
  return `${PREFIX[kind]}_${objectId}_${randomHex(12)}`;
}

const ID = /^(preq|act|whd)_([0-9a-f]{64})_[0-9a-f]{8,64}$/;

/** The connection object holding a job (or delivery) of this kind, or null for anything that cannot be one. */
export function jobObject(env: Env, kind: IdKind, id: string) {
  const m = ID.exec(id);
  if (!m || m[1] !== PREFIX[kind]) return null;
  try {
    return env.CONNECTION.get(env.CONNECTION.idFromString(m[2]!));
  } catch {
    return null;
  }
}
