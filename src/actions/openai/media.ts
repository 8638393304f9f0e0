import { z } from "zod";
import { bytesToBase64 } from "../../crypto/base64";
import { defineAction } from "../types";

export const createImage = defineAction({
  name: "create-image",
  description: "Generate images from a prompt (POST /v1/images/generations).",
  input: z
    .object({
      prompt: z.string().min(1).max(32_000),
      model: z.string().optional(),
      n: z.int().min(1).max(10).optional(),
      size: z.string().optional(),
      quality: z.string().optional(),
      background: z.enum(["transparent", "opaque", "auto"]).optional(),
      output_format: z.enum(["png", "jpeg", "webp"]).optional(),
      response_format: z.enum(["url", "b64_json"]).optional(),
    })
    .loose(),
  output: z
    .object({
      created: z.number(),
      data: z.array(z.object({ b64_json: z.string().optional(), url: z.string().optional(), revised_prompt: z.string().optional() }).loose()),
      usage: z.object({}).loose().optional(),
    })
    .loose(),
  run: (input, call) => call({ method: "POST", path: "/v1/images/generations", json: input }).then((r) => r.json()),
});

export const createSpeech = defineAction({
  name: "create-speech",
  description: "Text to speech (POST /v1/audio/speech); the audio comes back base64 with its content type.",
  input: z
    .object({
      model: z.string().min(1),
      input: z.string().min(1).max(4096),
      voice: z.string().min(1),
      instructions: z.string().optional(),
      response_format: z.enum(["mp3", "opus", "aac", "flac", "wav", "pcm"]).optional(),
      speed: z.number().min(0.25).max(4).optional(),
    })
    .loose(),
  output: z.object({
    content_type: z.string(),
    bytes: z.int().nonnegative(),
    audio_base64: z.base64(),
  }),
  async run(input, call) {
    const reply = await call({ method: "POST", path: "/v1/audio/speech", json: input });
    const bytes = new Uint8Array(reply.bytes);
    return {
      content_type: reply.headers.get("content-type") ?? "application/octet-stream",
      bytes: bytes.byteLength,
      audio_base64: bytesToBase64(bytes),
    };
  },
});
