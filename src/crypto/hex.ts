/** Lowercase hex of some bytes (digests, MACs, random ids). */
export const bytesToHex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
