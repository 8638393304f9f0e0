/**
 * A cap on outgoing delivery attempts in flight per isolate (every connection
 * object it hosts shares it). Past the cap an attempt waits here, before it
 * signs and before its timeout starts: an overloaded isolate queues attempts
 * instead of starting thousands at once and timing them out (each timeout is a
 * retry, and the receiver may have got it: a duplicate). On Cloudflare a
 * Durable Object opens at most 6 connections at once anyway; the cap keeps
 * memory and the receiver's load bounded.
 *
 * A slot is released into the pool, never handed to a waiter: a waiter whose
 * object went away cannot take a slot with it. A woken waiter takes a free
 * slot if there is one; a waiter also looks again on its own timer, so a
 * wake-up lost with another object never stalls the queue. That timer is spaced
 * by the queue's length (RECHECK_MS per `max` waiting, at most RECHECK_MAX_MS):
 * under overload thousands wait, and a timer each every second was itself a
 * large part of the isolate's work (12% of workerd's CPU at 500 events/s offered
 * here); the waiters at the head are woken by the slots released, not by timers.
 */
const ATTEMPTS_IN_FLIGHT_MAX = 48;
const RECHECK_MS = 1_000;
const RECHECK_MAX_MS = 30_000;

export function createSlots(max: number, recheckMs = RECHECK_MS) {
  let used = 0;
  const waiting = new Set<() => void>();

  function wakeOne(): void {
    const [first] = waiting;
    if (!first) return;
    waiting.delete(first);
    first();
  }

  async function take(): Promise<void> {
    while (used >= max) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        const wake = () => {
          if (timer !== undefined) clearTimeout(timer);
          waiting.delete(wake);
          resolve();
        };
        waiting.add(wake);
        timer = setTimeout(wake, Math.min(RECHECK_MAX_MS, recheckMs * Math.ceil(waiting.size / max)));
      });
    }
    used++;
  }

  return {
    /** Runs `fn` once a slot is free; the slot is back when it settles. */
    async run<T>(fn: () => Promise<T>): Promise<T> {
      await take();
      try {
        return await fn();
      } finally {
        used--;
        wakeOne();
      }
    },
    inFlight: () => used,
    queued: () => waiting.size,
  };
}

/** The isolate's delivery slots. */
export const deliverySlots = createSlots(ATTEMPTS_IN_FLIGHT_MAX);
