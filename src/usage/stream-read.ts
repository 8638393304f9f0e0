import type { ReadUsage } from "./extract";

/** What reads usage out of a stream's bytes (src/usage/extract.ts `createSseScanner`). */
export type Scanner = { push(chunk: Uint8Array): void; end(): ReadUsage };

/**
 * The caller's body, and the usage read beside it: `cut` when the stream
 * stopped before its end (the caller left, or upstream failed).
 */
export type Reading = { body: ReadableStream<Uint8Array>; reading: Promise<{ u: ReadUsage; cut: boolean }> };

/**
 * A stream handed to the caller chunk by chunk while its usage is read:
 * - the caller's body is workerd's native `IdentityTransformStream`, written
 *   from one read loop over the upstream reader (one JS hop per chunk; the
 *   look-only `TransformStream` fed by `pipeTo` that this replaces had a pipe
 *   loop, a JS writable and a JS readable, and cost more CPU per stream);
 * - a chunk is scanned once the caller's side has taken it (the write has
 *   resolved), so scanning never stands between a chunk and the caller;
 * - nothing is read ahead of the caller: the next chunk is read from upstream
 *   only when the previous one was taken, so a slow caller slows the provider
 *   down as it would without terapi in between;
 * - a caller that leaves fails the pending write: upstream is cancelled at
 *   once (the provider stops generating), and an upstream failure aborts the
 *   caller's body.
 * Tees were measured too (bench/README.md, "Streams"): one whose counting
 * branch is read here chunk by chunk costs the same; one whose counting copy
 * is collected natively meets the first-byte budget but reads ahead of a slow
 * caller and keeps a copy of the whole stream.
 */
export function passThrough(source: ReadableStream<Uint8Array>, scan: Scanner): Reading {
  const { readable, writable } = new IdentityTransformStream();
  const reader = source.getReader();
  const writer = writable.getWriter();
  const cut = () => ({ u: scan.end(), cut: true });
  const reading = (async () => {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (err) {
        // Upstream failed mid-stream: so does the caller's body.
        await writer.abort(err).catch(() => {});
        return cut();
      }
      if (r.done) break;
      try {
        await writer.write(r.value);
      } catch {
        // The caller left: the provider stops generating.
        await reader.cancel().catch(() => {});
        return cut();
      }
      scan.push(r.value);
    }
    // A caller that left after the last chunk: nothing was cut.
    await writer.close().catch(() => {});
    return { u: scan.end(), cut: false };
  })();
  return { body: readable, reading };
}
