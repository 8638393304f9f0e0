import { swaggerUI } from "@hono/swagger-ui";
import type { Router } from "../openapi";
import { documentProxy } from "./proxy-docs";

/** `/openapi.json` from the route schemas, and an interactive page at `/docs`. */
export function mountDocs(app: Router) {
  app.openAPIRegistry.registerComponent("securitySchemes", "secretKey", { type: "http", scheme: "bearer" });
  documentProxy(app);
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "terapi",
      version: "0.1.0",
      description: "Call the OpenAI API on behalf of each of your customers.",
    },
    security: [{ secretKey: [] }],
  });
  app.get("/docs", swaggerUI({ url: "/openapi.json" }));
}
