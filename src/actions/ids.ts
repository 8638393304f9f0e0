/** `act_<object id hex>_<random>`: the status route finds the connection's object without connection headers. */
const RUN_ID = /^act_([0-9a-f]{64})_[0-9a-f]{8,64}$/;

export function actionRunId(objectId: string): string {
  const random = [...crypto.getRandomValues(new Uint8Array(12))].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `act_${objectId}_${random}`;
}

/** The connection object holding a run, or null for anything that cannot be one. */
export function actionRunObject(env: Env, id: string) {
  const m = RUN_ID.exec(id);
  if (!m) return null;
  try {
    return env.CONNECTION.get(env.CONNECTION.idFromString(m[1]));
  } catch {
    return null;
  }
}
