import type { Context } from "hono";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { createRouter } from "../openapi";
import { jobObject } from "../jobs/ids";
import { proxy } from "../proxy/handler";

async function requestStatus(c: Context<AppEnv>): Promise<Response> {
  const id = c.req.param("id") ?? "";
  const stub = jobObject(c.env, "proxy", id);
  const job = stub ? await stub.getJob(id) : null;
  if (!job) throw new ApiError(404, "unknown_request", `No async proxy request '${id}'`);
  return c.json(job);
}

/** `ANY /proxy/*` and `GET /proxy/requests/:id`. */
export const proxyRoutes = createRouter();
proxyRoutes.get("/requests/:id", requestStatus);
proxyRoutes.all("/*", (c) => proxy({ req: c.req.raw, env: c.env, ctx: c.executionCtx }));
