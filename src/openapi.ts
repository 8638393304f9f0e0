import { OpenAPIHono, type z } from "@hono/zod-openapi";
import type { AppEnv } from "./env";
import { ApiError } from "./errors";
import { firstIssue, zodIssues } from "./lib/zod-issues";

/**
 * Every router is made here so zod validation failures are answered the same
 * way everywhere: 400 `invalid_request` with the issues (422 is for actions).
 */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    // `/records/` is `/records` (Nango's SDK adds the slash); the proxy reads its path from the raw URL, slash kept.
    strict: false,
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error);
    },
  });
}

/**
 * 400 for a failed zod parse; a parameter the endpoint does not know (strict
 * query schemas) is `unknown_parameter`, never silently ignored.
 */
export function validationError(error: z.ZodError): ApiError {
  const issues = zodIssues(error);
  const unknown = error.issues.flatMap((i) => (i.code === "unrecognized_keys" ? i.keys : []));
  if (unknown.length > 0) return new ApiError(400, "unknown_parameter", `Unknown parameter ${unknown.map((k) => `'${k}'`).join(", ")}`, issues);
  return new ApiError(400, "invalid_request", firstIssue(issues, "body") ?? "Invalid request", issues);
}

export type Router = ReturnType<typeof createRouter>;
