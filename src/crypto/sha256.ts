import { bytesToHex } from "./hex";

const encoder = new TextEncoder();

/** SHA-256 of a string's UTF-8 bytes (or of bytes), as 64 lowercase hex digits. */
export async function sha256Hex(data: string | ArrayBuffer | ArrayBufferView): Promise<string> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return bytesToHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}
