import type { RateLimitRules } from "../providers/types";
import { requestModel } from "./limit-bucket";

/**
 * The request behind an error answer (kept by forward.ts, read by
 * src/usage/tap.ts), so usage counts the error under the model the request's
 * body named rather than `unknown`. Read only when the error is counted;
 * successes name their model themselves.
 */
type Sent = { rules: RateLimitRules; path: string; method: string; body: ArrayBuffer | ReadableStream | null };
const requests = new WeakMap<Response, Sent>();

export function withRequestModel(res: Response, rules: RateLimitRules, req: Omit<Sent, "rules">): Response {
  requests.set(res, { rules, path: req.path, method: req.method, body: req.body });
  return res;
}

export function requestModelOf(res: Response): string | null {
  const sent = requests.get(res);
  return sent ? requestModel(sent.rules, sent.path, sent.method, sent.body) : null;
}
