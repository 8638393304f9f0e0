import { bodyLimit } from "hono/body-limit";
import { apiError, payloadTooLarge, toErrorResponse } from "./errors";
import { secretKeyAuth } from "./middleware/secret-key-auth";
import { createRouter } from "./openapi";
import { mountDocs } from "./routes/docs";
import { actionRoutes } from "./routes/actions";
import { connectionRoutes } from "./routes/connections";
import { environmentRoutes } from "./routes/environment";
import { environmentSecretRoutes } from "./routes/environment-admin";
import { healthRoutes } from "./routes/health";
import { integrationRoutes } from "./routes/integrations";
import { connectPageRoutes, connectSessionRoutes } from "./routes/connect";
import { dashboardRoutes } from "./routes/dashboard";
import { logRoutes } from "./routes/logs";
import { nangoCompatRoutes } from "./routes/nango-unsupported";
import { providerRoutes } from "./routes/providers";
import { proxyRoutes } from "./routes/proxy";
import { recordRoutes } from "./routes/records";
import { syncRoutes } from "./routes/sync";
import { usageCapRoutes, usageRoutes } from "./routes/usage";
import { webhookDeliveryRoutes } from "./routes/webhook-deliveries";
import { inboundWebhookRoutes } from "./routes/webhooks";

/** Management API bodies are small JSON; the proxy streams and has its own rules. */
const MANAGEMENT_BODY_LIMIT = 1024 * 1024;

export function createApp() {
  const app = createRouter();

  app.onError((err, c) => toErrorResponse(err, c.env));
  app.notFound((c) => apiError("not_found", `No route for ${c.req.method} ${c.req.path}`).toResponse());

  // Public: health, docs, openapi.json, the connect page, inbound webhooks.
  app.route("/", healthRoutes);
  mountDocs(app);
  app.route("/", inboundWebhookRoutes);
  app.route("/", connectPageRoutes);
  // The dashboard checks the secret key itself (Bearer, or its login cookie).
  app.route("/", dashboardRoutes);

  // Everything else needs the secret key.
  const api = createRouter();
  api.use("*", secretKeyAuth());
  // The proxy streams bodies of any size (uploads): no management body limit.
  api.route("/proxy", proxyRoutes);
  api.use(
    "*",
    bodyLimit({
      maxSize: MANAGEMENT_BODY_LIMIT,
      onError: () => {
        throw payloadTooLarge("Request body", MANAGEMENT_BODY_LIMIT);
      },
    }),
  );
  api.route("/integrations", integrationRoutes);
  api.route("/connections", connectionRoutes);
  api.route("/connections", usageCapRoutes);
  api.route("/environment", environmentRoutes);
  api.route("/webhook-deliveries", webhookDeliveryRoutes);
  api.route("/environment/secrets", environmentSecretRoutes);
  api.route("/", actionRoutes);
  api.route("/logs", logRoutes);
  api.route("/records", recordRoutes);
  api.route("/sync", syncRoutes);
  api.route("/usage", usageRoutes);
  api.route("/connect", connectSessionRoutes);
  api.route("/providers", providerRoutes);
  api.route("/", nangoCompatRoutes);
  app.route("/", api);
  return app;
}
