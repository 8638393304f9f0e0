import { createRoute } from "@hono/zod-openapi";
import { outboxObject } from "../bindings/stubs";
import { createRouter } from "../openapi";
import { forgetDeliveryConfig } from "../webhooks/settings-cache";
import { EnvironmentPatchSchema, EnvironmentSchema } from "../webhooks/schemas";
import { ErrorSchema } from "./schemas";

const environmentResponse = (description: string) => ({
  200: { description, content: { "application/json": { schema: EnvironmentSchema } } },
  400: { description: "Invalid input", content: { "application/json": { schema: ErrorSchema } } },
});

const getEnvironment = createRoute({
  method: "get",
  path: "/",
  tags: ["Webhooks"],
  summary: "Outgoing webhook settings; the signing secret is generated on first read",
  responses: environmentResponse("The environment's webhook settings"),
});

const patchEnvironment = createRoute({
  method: "patch",
  path: "/",
  tags: ["Webhooks"],
  summary: "Set or clear webhook_url and secondary_webhook_url (http or https)",
  request: { body: { required: true, content: { "application/json": { schema: EnvironmentPatchSchema } } } },
  responses: environmentResponse("The updated settings"),
});

const rotateSecret = createRoute({
  method: "post",
  path: "/webhook-secret/rotate",
  tags: ["Webhooks"],
  summary: "Replace the webhook signing secret",
  description: "Deliveries are signed with the new secret, plus the previous one as a second `v1,` signature for 24 hours so receivers can roll over.",
  responses: environmentResponse("The settings with the new secret"),
});

/** A change applies at once in this isolate, within SETTINGS_TTL_MS (10 s) in the others (src/webhooks/settings-cache.ts). */
const changed = <T>(settings: T): T => {
  forgetDeliveryConfig();
  return settings;
};

/** `/environment`: the settings outgoing webhooks need (kept in the outbox object, cached per isolate by deliveries). */
export const environmentRoutes = createRouter()
  .openapi(getEnvironment, async (c) => c.json(await outboxObject(c.env).getEnvironment(), 200))
  .openapi(patchEnvironment, async (c) => c.json(changed(await outboxObject(c.env).updateEnvironment(c.req.valid("json"))), 200))
  .openapi(rotateSecret, async (c) => c.json(changed(await outboxObject(c.env).rotateWebhookSecret()), 200));
