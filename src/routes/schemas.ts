import { z } from "@hono/zod-openapi";
import { ERROR_CODES } from "../errors";
import { jsonDepth, MAX_JSON_DEPTH } from "../json-limits";

/** The error body every terapi error uses (documented on each route): its code is one of the catalogue's (src/errors.ts). */
export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      details: z.unknown().optional().openapi({ description: "What exactly was wrong, when the code alone does not say (e.g. validation issues)" }),
    }),
  })
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

/**
 * An id of dots only would be a dot segment in `/connections/{id}`: the URL
 * parser resolves `.` and `..` (also `%2e`) away before any route sees them,
 * so such an id could never be read or deleted by its path.
 */
const DOTS_ONLY = /^\.+$/;
const NOT_DOTS = "must not be made of dots only (a URL path cannot address it)";

export const UniqueKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1–64 characters of A–Z, a–z, 0–9, _ . -")
  .refine((s) => !DOTS_ONLY.test(s), NOT_DOTS)
  .openapi({ example: "openai" });

export const ConnectionIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:@-]{1,128}$/, "must be 1–128 characters of A–Z, a–z, 0–9, _ . : @ -")
  .refine((s) => !DOTS_ONLY.test(s), NOT_DOTS)
  .openapi({ example: "tenant-42" });

/** Control characters (CR, LF, NUL, …) can never be sent in a header, so a value that goes into one is refused up front. */
const CONTROL = /[\u0000-\u001f\u007f]/;
export const hasControlCharacter = (s: string) => CONTROL.test(s);
export const headerSafe = <T extends z.ZodString>(schema: T) =>
  schema.refine((s) => !hasControlCharacter(s), "must not contain control characters (CR, LF, tab, NUL, …): it is sent in an HTTP header");

/** Standard Webhooks secret: `whsec_` and the base64 of 8–128 random bytes (24–64 recommended). */
const WHSEC = /^whsec_((?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)$/;
const decodedLength = (b64: string) => (b64.length / 4) * 3 - (b64.match(/=/g)?.length ?? 0);
export const WebhookSecretSchema = z
  .string()
  .refine((s) => {
    const m = WHSEC.exec(s);
    return m?.[1] !== undefined && decodedLength(m[1]) >= 8 && decodedLength(m[1]) <= 128;
  }, "must be whsec_ followed by the base64 of 8–128 bytes (a Standard Webhooks secret)")
  .openapi({ example: "whsec_RdvaYFYUXuIFuEbvZHwMfYFhUf7aMYjYcmM24+Aj40c=" });

/** Metadata is stored in the connection index row and returned with every connection. */
const MAX_METADATA_BYTES = 64 * 1024;

/** Arbitrary JSON object the user attaches to a connection, within the depth and size limits. */
export const MetadataSchema = z
  .record(z.string(), z.unknown())
  .superRefine((value, ctx) => {
    if (jsonDepth(value) > MAX_JSON_DEPTH) ctx.addIssue({ code: "custom", message: `nests deeper than ${MAX_JSON_DEPTH} levels (the limit)` });
    else if (new TextEncoder().encode(JSON.stringify(value)).length > MAX_METADATA_BYTES)
      ctx.addIssue({ code: "custom", message: `is larger than ${MAX_METADATA_BYTES} bytes as JSON (the limit)` });
  })
  .openapi({ example: { plan: "pro" } });
export const TagsSchema = z.record(z.string(), z.string().max(256)).openapi({ example: { region: "eu" } });

export const EndUserSchema = z
  .object({
    id: z.string().min(1).max(255),
    email: z.string().email().max(320).optional(),
    display_name: z.string().max(255).optional(),
  })
  .openapi("EndUser");
