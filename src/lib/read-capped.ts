/** What `readCapped` read: at most `limit` bytes, and whether the body went on past them. */
type CappedRead = { bytes: ArrayBuffer; truncated: boolean };

/**
 * Reads a body up to `limit` bytes and cancels the rest unread, so a large or
 * endless body costs no more than the cap. `truncated` says there was more.
 */
export async function readCapped(body: ReadableStream<Uint8Array> | null, limit: number): Promise<CappedRead> {
  if (!body) return { bytes: new ArrayBuffer(0), truncated: false };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.byteLength > limit) {
        chunks.push(value.subarray(0, limit - size));
        size = limit;
        truncated = true;
        break;
      }
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    // Done or not, the reader lets go of the body: the rest is never read.
    await reader.cancel().catch(() => undefined);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return { bytes: out.buffer, truncated };
}
