import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./env";
import { ApiError } from "./errors";

/**
 * Every router is made here so zod validation failures are answered the same
 * way everywhere: 400 `invalid_request` with the issues (422 is for actions).
 */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const issues = result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
        const first = issues[0];
        throw new ApiError(
          400,
          "invalid_request",
          first ? `${first.path || "body"}: ${first.message}` : "Invalid request",
          issues,
        );
      }
    },
  });
}

export type Router = ReturnType<typeof createRouter>;
