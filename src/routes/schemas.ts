import { z } from "@hono/zod-openapi";

/** The error body every terapi error uses (documented on each route). */
export const ErrorSchema = z
  .object({ error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }) })
  .openapi("Error");

export const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: ErrorSchema } },
});

/** Standard error responses of a management route. */
export const commonErrors = {
  400: errorResponse("Invalid input"),
  401: errorResponse("Missing or invalid secret key"),
  413: errorResponse("Body larger than 1 MB"),
};

export const UniqueKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1–64 characters of A–Z, a–z, 0–9, _ . -")
  .openapi({ example: "openai" });

export const ConnectionIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:@-]{1,128}$/, "must be 1–128 characters of A–Z, a–z, 0–9, _ . : @ -")
  .openapi({ example: "tenant-42" });

/** Arbitrary JSON object the user attaches to a connection. */
export const MetadataSchema = z.record(z.string(), z.unknown()).openapi({ example: { plan: "pro" } });
export const TagsSchema = z.record(z.string(), z.string().max(256)).openapi({ example: { region: "eu" } });

export const EndUserSchema = z
  .object({
    id: z.string().min(1).max(255),
    email: z.string().email().max(320).optional(),
    display_name: z.string().max(255).optional(),
  })
  .openapi("EndUser");
