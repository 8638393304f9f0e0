/**
 * A `Server-Timing` header for the overview's reads: each read's time from its
 * start to its answer, so `npm run bench -- --scale` can tell which read is
 * slow at 10,000 connections. A Worker's clock moves with I/O, which is what
 * these reads are (rendering's CPU time is not in them).
 */
export type ServerTiming = {
  time: <T>(name: string, p: Promise<T>) => Promise<T>;
  header: () => string;
};

export function serverTiming(): ServerTiming {
  const marks: string[] = [];
  return {
    time: (name, p) => {
      const start = Date.now();
      return p.finally(() => marks.push(`${name};dur=${Date.now() - start}`));
    },
    header: () => marks.join(", "),
  };
}

/** Reads nothing: for callers that do not report timings. */
export const noTiming: ServerTiming = { time: (_name, p) => p, header: () => "" };
