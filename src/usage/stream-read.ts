import type { ReadUsage } from "./extract";

/** What reads usage out of a stream's bytes (src/usage/extract.ts `createSseScanner`). */
export type Scanner = { push(chunk: Uint8Array): void; end(): ReadUsage; whole?(bytes: Uint8Array): ReadUsage };

/**
 * The caller's body, and the usage read beside it: `cut` when the stream
 * stopped before its end (the caller left, or upstream failed).
 */
export type Reading = { body: ReadableStream<Uint8Array>; reading: Promise<{ u: ReadUsage; cut: boolean }> };

/** How long a stream's counting copy is only held (no JS on any chunk) before it is read chunk by chunk. */
const HELD_MS = 10_000;

/**
 * A stream handed to the caller with no JavaScript on the way of any chunk,
 * its usage read beside it (issue 16: time to first byte unchanged):
 * - a native tee; the caller's branch goes through a native `pipeTo` into an
 *   `IdentityTransformStream` (workerd pumps it; the isolate is not entered
 *   per chunk). The pipe's end is all the isolate hears of it: resolved, the
 *   caller has every byte; rejected, the caller left (or upstream failed,
 *   which the pipe passes on to the caller's body);
 * - the counting branch is not read while the stream runs: the tee holds
 *   for it what the caller's branch has pulled from upstream, no more (a
 *   branch nobody reads pulls nothing), so upstream is still read only as
 *   fast as the caller takes it;
 * - at the end, the held copy is collected in one native call and read
 *   once, from its end (`readSseStream`: the usage is in a last event);
 * - a caller that leaves: what is held is scanned (the estimate is what came
 *   from upstream), then the counting branch is cancelled, and with both
 *   branches cancelled so is upstream (the provider stops generating);
 * - a stream still running after `heldMs` (a long generation) is read chunk
 *   by chunk from then on, so what is held stays bounded by what arrives in
 *   that time; from then on upstream is read at its own pace (the tee keeps
 *   what a slower caller has not taken yet).
 * Measured against the read loop this replaces (every chunk through the
 * isolate, ≈ 0.2 ms on the first byte): bench/README.md, "Streams".
 */
export function passThrough(source: ReadableStream<Uint8Array>, scan: Scanner, heldMs = HELD_MS): Reading {
  const [theirs, mine] = source.tee();
  const caller = new IdentityTransformStream();
  const delivered = theirs.pipeTo(caller.writable).then(
    () => true,
    () => false,
  );
  const reading = (async () => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), heldMs)));
    const first = await Promise.race([delivered, late]);
    clearTimeout(timer);
    if (first === true) return collect(mine, scan);
    const reader = mine.getReader();
    if (first === false) return { u: await stopAfterHeld(reader, scan), cut: true };
    return readOn(reader, scan, delivered);
  })();
  return { body: caller.readable as ReadableStream<Uint8Array>, reading };
}

/** The caller has it all: the held copy (complete) read in one native call. */
async function collect(mine: ReadableStream<Uint8Array>, scan: Scanner) {
  try {
    const bytes = new Uint8Array(await new Response(mine).arrayBuffer());
    if (scan.whole) return { u: scan.whole(bytes), cut: false };
    scan.push(bytes);
    return { u: scan.end(), cut: false };
  } catch {
    return { u: scan.end(), cut: true };
  }
}

const nextTask = () => new Promise<null>((resolve) => setTimeout(() => resolve(null), 0));

/** The caller left: scans what the tee holds (reads that answer before the next task), then cancels upstream. */
async function stopAfterHeld(reader: ReadableStreamDefaultReader<Uint8Array>, scan: Scanner): Promise<ReadUsage> {
  try {
    for (;;) {
      const r = await Promise.race([reader.read(), nextTask()]);
      if (r === null || r.done) break;
      scan.push(r.value);
    }
  } catch {
    // Upstream failed: nothing more to read.
  }
  await reader.cancel().catch(() => {});
  return scan.end();
}

/** A long stream: read chunk by chunk from now on; the caller leaving cancels it (and upstream). */
async function readOn(reader: ReadableStreamDefaultReader<Uint8Array>, scan: Scanner, delivered: Promise<boolean>) {
  let left = false;
  void delivered.then((ok) => {
    if (ok) return;
    left = true;
    void reader.cancel().catch(() => {});
  });
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) scan.push(r.value);
  } catch {
    return { u: scan.end(), cut: true };
  }
  return { u: scan.end(), cut: left };
}
