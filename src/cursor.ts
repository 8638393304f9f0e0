/**
 * The one encoding of every paged list's `next_cursor` (connections, records,
 * logs, webhook deliveries): the last row's sort key as a JSON array, in
 * base64url without padding. Opaque to callers; a list decodes it against
 * the shape of its own key and refuses anything else.
 */
type Part = "string" | "number";
type Decoded<S extends readonly Part[]> = { -readonly [K in keyof S]: S[K] extends "string" ? string : number };

export function encodeCursor(key: readonly (string | number)[]): string {
  const bytes = new TextEncoder().encode(JSON.stringify(key));
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The key, or null when the cursor is not one of this shape (not one this API returned). */
export function decodeCursor<const S extends readonly Part[]>(cursor: string, shape: S): Decoded<S> | null {
  try {
    const binary = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    const key: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
    if (!Array.isArray(key) || key.length !== shape.length) return null;
    const fits = key.every((v, i) => (shape[i] === "number" ? typeof v === "number" && Number.isFinite(v) : typeof v === "string"));
    return fits ? (key as Decoded<S>) : null;
  } catch {
    return null;
  }
}
