import type { z } from "zod";

/** One failed check of a zod schema, as the API reports it: a dotted path and zod's message. */
export type Issue = { path: string; message: string };

/** A zod error's issues, path joined with dots (`messages.0.role`; the root is ""). */
export const zodIssues = (error: z.ZodError): Issue[] => error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));

/** `path: message` of the first issue (`root` names the root path), for an error's one-line message; null when there is none. */
export function firstIssue(issues: readonly Issue[], root: string): string | null {
  const first = issues[0];
  return first ? `${first.path || root}: ${first.message}` : null;
}
