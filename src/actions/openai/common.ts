import { z } from "zod";

/** An OpenAI object id used in a path: one plain segment (`file-…`, `batch_…`, `vs_…`, `ftjob-…`). */
export const resourceId = (example: string) =>
  z
    .string()
    .max(256)
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, `must be an id like ${example}`)
    .meta({ examples: [example] });

/** `metadata` on OpenAI objects: up to 16 string pairs. */
export const Metadata = z.record(z.string().max(64), z.string().max(512));

/** Streaming belongs to the proxy: an action answers with one JSON document. */
export const noStream = z.literal(false).optional().meta({ description: "Streaming is for the proxy; actions answer once." });

export const path = (...segments: string[]) => `/${segments.map(encodeURIComponent).join("/")}`;
