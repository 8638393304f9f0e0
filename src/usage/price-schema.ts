import { z } from "@hono/zod-openapi";

/** An environment's own prices (`PATCH /environment {usage_prices}`), on top of the providers' lists. */
export const PriceOverrideSchema = z
  .object({
    version: z.string().min(1).max(100).openapi({ description: "Reported as price_version with every cost computed from it" }),
    models: z
      .record(z.string().min(1).max(200), z.object({ input: z.number().min(0), cached_input: z.number().min(0), output: z.number().min(0) }).strict())
      .openapi({ description: "USD per million tokens, per model (a model's dated names use it too)" }),
  })
  .strict()
  .openapi("UsagePrices");
export type PriceOverride = z.infer<typeof PriceOverrideSchema>;
