import type { Route } from "../http.ts";
import { sendBytes, sendError } from "../http.ts";
import { estimateTokens } from "../text.ts";
import { seededRandom, str } from "../util.ts";

const TYPES: Record<string, string> = { mp3: "audio/mpeg", opus: "audio/opus", aac: "audio/aac", flac: "audio/flac", wav: "audio/wav", pcm: "audio/pcm" };

/** Deterministic fake audio: an ID3 header then pseudo-random frames sized by the input length. */
function audioBytes(input: string): Buffer {
  const rnd = seededRandom(input);
  const len = 1024 + input.length * 64;
  const buf = Buffer.alloc(len);
  buf.write("ID3", 0, "latin1");
  buf[3] = 4;
  for (let i = 10; i < len; i++) buf[i] = Math.floor(rnd() * 256);
  return buf;
}

export const audioRoutes: Route[] = [
  {
    method: "POST",
    path: "/v1/audio/speech",
    tokens: estimateTokens,
    handler: (ctx) => {
      const input = str(ctx.json, "input");
      if (!str(ctx.json, "model"))
        return sendError(ctx, 400, "Missing required parameter: 'model'.", "invalid_request_error", "model", "missing_required_parameter");
      if (input === undefined)
        return sendError(ctx, 400, "Missing required parameter: 'input'.", "invalid_request_error", "input", "missing_required_parameter");
      if (!str(ctx.json, "voice"))
        return sendError(ctx, 400, "Missing required parameter: 'voice'.", "invalid_request_error", "voice", "missing_required_parameter");
      const fmt = str(ctx.json, "response_format") ?? "mp3";
      const type = TYPES[fmt];
      if (!type) return sendError(ctx, 400, `Invalid value for 'response_format': '${fmt}'.`, "invalid_request_error", "response_format", "invalid_value");
      sendBytes(ctx, 200, audioBytes(input), type);
    },
  },
];
