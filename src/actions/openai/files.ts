import { z } from "zod";
import { base64ToBytes } from "../../crypto/base64";
import { defineAction } from "../types";
import { path, resourceId } from "./common";

const FileObject = z
  .object({
    id: z.string(),
    object: z.literal("file"),
    bytes: z.number(),
    created_at: z.number(),
    filename: z.string(),
    purpose: z.string(),
    status: z.string().optional(),
    expires_at: z.number().nullish(),
  })
  .loose();

export const uploadFile = defineAction({
  name: "upload-file",
  description: "Upload a file (POST /v1/files, multipart). Give the content as text (`content`) or base64 (`content_base64`), not both.",
  input: z
    .object({
      filename: z.string().min(1).max(255),
      purpose: z.enum(["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]),
      content: z.string().optional(),
      content_base64: z.base64().optional(),
      content_type: z.string().min(1).optional(),
    })
    .refine((v) => (v.content === undefined) !== (v.content_base64 === undefined), {
      message: "give exactly one of content and content_base64",
      path: ["content"],
    }),
  output: FileObject,
  async run(input, call) {
    const bytes = input.content_base64 !== undefined ? base64ToBytes(input.content_base64) : new TextEncoder().encode(input.content);
    const form = new FormData();
    form.append("purpose", input.purpose);
    form.append("file", new Blob([bytes], { type: input.content_type ?? "application/octet-stream" }), input.filename);
    return (await call({ method: "POST", path: "/v1/files", form })).json();
  },
});

export const getFile = defineAction({
  name: "get-file",
  description: "A file's metadata (GET /v1/files/{file_id}).",
  input: z.object({ file_id: resourceId("file-abc123") }),
  output: FileObject,
  run: (input, call) => call({ method: "GET", path: path("v1", "files", input.file_id) }).then((r) => r.json()),
});
