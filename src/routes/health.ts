import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../openapi";

const health = createRoute({
  method: "get",
  path: "/health",
  tags: ["Operations"],
  summary: "Liveness check (no secret key)",
  responses: {
    200: {
      description: "terapi is up",
      content: { "application/json": { schema: z.object({ status: z.literal("ok") }) } },
    },
  },
});

export const healthRoutes = createRouter().openapi(health, (c) => c.json({ status: "ok" as const }, 200));
