/** Standard base64 for byte arrays (chunked so large values never overflow the call stack). */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

/** Decodes standard base64; throws on anything that is not base64. */
export function base64ToBytes(value: string): Uint8Array<ArrayBuffer> {
  const binary = atob(value);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Base64url without padding (RFC 4648 §5): tokens, signatures and cursors that travel in URLs and cookies. */
export function bytesToBase64Url(bytes: Uint8Array): string {
  return bytesToBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decodes base64url (padding optional; the standard alphabet is read too); throws on anything else. */
export function base64UrlToBytes(value: string): Uint8Array<ArrayBuffer> {
  return base64ToBytes(value.replace(/-/g, "+").replace(/_/g, "/"));
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** A string's UTF-8 bytes as base64url (any text, unlike `btoa`, which refuses characters past U+00FF). */
export const textToBase64Url = (text: string) => bytesToBase64Url(encoder.encode(text));

/** The text `textToBase64Url` encoded; throws on bad base64 or bytes that are not UTF-8. */
export const base64UrlToText = (value: string) => decoder.decode(base64UrlToBytes(value));
