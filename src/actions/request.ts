import { ApiError } from "../errors";
import type { ProviderDefinition } from "../providers/types";
import { providerBaseUrl } from "../providers/catalog";
import { confinePath, upstreamUrl } from "../proxy/path";
import { ActionUpstreamError, type UpstreamReply, type UpstreamRequest } from "./types";

type EncodedRequest = { url: string; path: string; method: string; headers: Headers; body: ArrayBuffer | null };

/**
 * An action's request as bytes: in memory (so a retry can send it again),
 * confined to the provider's base URL like any proxy path.
 */
export async function encodeRequest(provider: ProviderDefinition, env: Env, req: UpstreamRequest): Promise<EncodedRequest> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) params.set(k, String(v));
  const query = params.size ? `?${params}` : "";
  const path = confinePath(req.path);
  const url = upstreamUrl(providerBaseUrl(provider, env), path, query);
  const headers = new Headers({ accept: "application/json" });
  let body: ArrayBuffer | null = null;
  if (req.form) {
    // The runtime writes the multipart body and its boundary.
    const encoded = new Response(req.form);
    headers.set("content-type", encoded.headers.get("content-type") ?? "multipart/form-data");
    body = await encoded.arrayBuffer();
  } else if (req.json !== undefined) {
    headers.set("content-type", "application/json");
    body = new TextEncoder().encode(JSON.stringify(req.json)).buffer as ArrayBuffer;
  }
  return { url, path, method: req.method, headers, body };
}

/** Reads the provider's answer; anything but 2xx becomes the error that relays it. */
export async function readReply(res: Response): Promise<UpstreamReply> {
  const bytes = await res.arrayBuffer();
  if (res.status < 200 || res.status >= 300) throw new ActionUpstreamError(res.status, res.headers, bytes);
  let parsed: { value: unknown } | null = null;
  return {
    status: res.status,
    headers: res.headers,
    bytes,
    json() {
      if (!parsed) {
        try {
          parsed = { value: bytes.byteLength ? JSON.parse(new TextDecoder().decode(bytes)) : null };
        } catch {
          throw new ApiError(502, "invalid_action_output", "The provider's answer is not JSON");
        }
      }
      return parsed.value;
    },
  };
}
