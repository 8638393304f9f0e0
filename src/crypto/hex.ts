/** The 256 byte values as two lowercase hex digits, built once. */
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** Lowercase hex of some bytes (digests, MACs, random ids); a table lookup per byte (ids are made per request). */
export function bytesToHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += HEX[b];
  return out;
}
