/**
 * The model a request's body named, kept beside its error answer (set by
 * forward.ts, read by src/usage/tap.ts), so usage counts an error under that
 * model rather than `unknown`. Successes name their model themselves.
 */
const models = new WeakMap<Response, string>();

export function withRequestModel(res: Response, model: string | undefined): Response {
  if (model) models.set(res, model);
  return res;
}

export const requestModelOf = (res: Response): string | null => models.get(res) ?? null;
