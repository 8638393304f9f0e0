import { createRoute, z } from "@hono/zod-openapi";
import { outboxObject } from "../bindings/stubs";
import { createRouter } from "../openapi";
import { reencryptConnectionSecrets } from "../store/connection-secret";
import { commonErrors, errorResponse } from "./schemas";

const reencrypt = createRoute({
  method: "post",
  path: "/reencrypt",
  tags: ["Environment"],
  summary: "Re-encrypt every connection secret and the webhook signing secrets with the current master key",
  description: "After putting a new key first in TERAPI_ENCRYPTION_KEY, run this until `reencrypted` is 0; the old key can then be removed.",
  responses: {
    200: {
      description: "Secrets rewritten / seen / unreadable with every key of the ring (left as they are)",
      content: {
        "application/json": { schema: z.object({ reencrypted: z.number().int(), total: z.number().int(), failed: z.number().int() }) },
      },
    },
    ...commonErrors,
    500: errorResponse("Key ring missing or malformed, or a secret cannot be decrypted"),
  },
});

/** `/environment/secrets`: master-key rotation support. */
export const environmentSecretRoutes = createRouter().openapi(reencrypt, async (c) => {
  const connections = await reencryptConnectionSecrets(c.env);
  // The outgoing-webhook signing secrets are sealed with the same ring.
  const outbox = await outboxObject(c.env).reencryptSigningSecrets();
  return c.json({ ...connections, reencrypted: connections.reencrypted + outbox.resealed, total: connections.total + outbox.total }, 200);
});
