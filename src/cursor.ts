/**
 * The one encoding of every paged list's `next_cursor` (connections, records,
 * logs, webhook deliveries): the last row's sort key as a JSON array, in
 * base64url without padding. Opaque to callers; a list decodes it against
 * the shape of its own key and refuses anything else.
 */
import { base64UrlToText, textToBase64Url } from "./crypto/base64";

type Part = "string" | "number";
type Decoded<S extends readonly Part[]> = { -readonly [K in keyof S]: S[K] extends "string" ? string : number };

export function encodeCursor(key: readonly (string | number)[]): string {
  return textToBase64Url(JSON.stringify(key));
}

/** The key, or null when the cursor is not one of this shape (not one this API returned). */
export function decodeCursor<const S extends readonly Part[]>(cursor: string, shape: S): Decoded<S> | null {
  try {
    const key: unknown = JSON.parse(base64UrlToText(cursor));
    if (!Array.isArray(key) || key.length !== shape.length) return null;
    const fits = key.every((v, i) => (shape[i] === "number" ? typeof v === "number" && Number.isFinite(v) : typeof v === "string"));
    return fits ? (key as Decoded<S>) : null;
  } catch {
    return null;
  }
}
