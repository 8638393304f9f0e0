import type { RateObservation } from "../proxy/observation";

/** A slot to send one request now, or how long the caller would have had to wait. */
export type Grant = { ok: true; gen: number; waitedMs: number; probe: boolean } | { ok: false; retryAfterMs: number };

/** What survives an eviction: the limit and "blocked until" (per-window counts are short-lived). */
export type LimiterSnapshot = { limit: number | null; blockedUntil: number };

type Waiter = { resolve: (g: Grant) => void; since: number; deadline: number };

/** Added to every reset: clocks and windows never line up to the millisecond. */
export const SAFETY_MARGIN_MS = 30;
const PROBE_TIMEOUT_MS = 10_000;

/**
 * The connection's one shared view of its request budget, inside its Durable
 * Object. Requests queue here (FIFO) and are released while the window has
 * budget; when it is spent or the provider said 429, they are held on one
 * real timer until the reset instead of being sent to be rejected.
 */
export class RateLimiter {
  private limit: number | null;
  /** Slots left in the current window as far as anyone has told us. */
  private remaining = 0;
  /** End of the current window (margin included); 0 = not known yet. */
  private resetAt = 0;
  private blockedUntil: number;
  /** Window generation: answers to requests granted in an older window do not move this one. */
  private gen = 0;
  private probing = false;
  private probeSince = 0;
  private queue: Waiter[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    initial: LimiterSnapshot,
    private readonly persist: (s: LimiterSnapshot) => void,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.limit = initial.limit;
    this.blockedUntil = initial.blockedUntil;
    if (this.limit !== null) this.remaining = this.limit;
  }

  /** Resolves when the request may go (or with the wait it would need past `maxWaitMs`). */
  acquire(hint: RateObservation, maxWaitMs: number): Promise<Grant> {
    this.merge(hint, this.gen);
    const since = this.now();
    return new Promise<Grant>((resolve) => {
      this.queue.push({ resolve, since, deadline: since + maxWaitMs });
      this.pump();
    });
  }

  /** A slot if one is free right now, else when to try again (for background jobs on the alarm). */
  tryAcquire(): { ok: true; gen: number } | { ok: false; at: number } {
    const t = this.now();
    this.roll(t);
    if (this.queue.length === 0) {
      if (this.blockedUntil > t) return { ok: false, at: this.blockedUntil };
      if (this.limit === null || this.remaining > 0) {
        if (this.limit !== null) this.remaining--;
        return { ok: true, gen: this.gen };
      }
    }
    return { ok: false, at: this.nextOpening(t) ?? t + 1_000 };
  }

  /** The answer to a granted request: what the provider said about the budget. */
  report(gen: number, obs: RateObservation, wasProbe = false): void {
    if (wasProbe) this.probing = false;
    this.merge(obs, gen);
    this.pump();
  }

  state() {
    return { limit: this.limit, remaining: this.remaining, resetAt: this.resetAt, blockedUntil: this.blockedUntil, queued: this.queue.length };
  }

  private merge(obs: RateObservation, gen: number): void {
    const t = this.now();
    let changed = false;
    if (obs.limit !== undefined && obs.limit !== this.limit) {
      if (this.limit === null) this.remaining = obs.limit;
      this.limit = obs.limit;
      changed = true;
    }
    if (obs.blockedUntil !== undefined && obs.blockedUntil > this.blockedUntil) {
      this.blockedUntil = obs.blockedUntil;
      // Everyone waits for the same reset; a fresh window opens then.
      this.remaining = 0;
      this.resetAt = obs.blockedUntil;
      changed = true;
    }
    if (gen === this.gen && obs.remaining !== undefined && obs.resetAt !== undefined && obs.resetAt > t) {
      this.remaining = Math.min(this.remaining, obs.remaining);
      this.resetAt = Math.max(this.resetAt, obs.resetAt + SAFETY_MARGIN_MS);
    }
    if (changed) this.persist({ limit: this.limit, blockedUntil: this.blockedUntil });
  }

  /** A passed window gives its budget back. */
  private roll(t: number): void {
    if (this.limit !== null && this.resetAt !== 0 && t >= this.resetAt && this.blockedUntil <= t) {
      this.remaining = this.limit;
      this.resetAt = 0;
      this.gen++;
    }
  }

  /** When the queue can move next, if known (otherwise it moves on the next report). */
  private nextOpening(t: number): number | null {
    if (this.blockedUntil > t) return this.blockedUntil;
    return this.resetAt > t ? this.resetAt : null;
  }

  private grant(w: Waiter, t: number, probe = false): void {
    w.resolve({ ok: true, gen: this.gen, waitedMs: t - w.since, probe });
  }

  private pump(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const t = this.now();
    this.roll(t);
    while (this.queue.length > 0 && this.blockedUntil <= t) {
      if (this.limit === null) {
        // Nothing known: one probe goes, the rest wait for its headers.
        // A probe whose answer never came (its isolate went away) does not block forever.
        if (this.probing && t - this.probeSince < PROBE_TIMEOUT_MS) break;
        this.probing = true;
        this.probeSince = t;
        this.grant(this.queue.shift()!, t, true);
        break;
      }
      if (this.remaining <= 0) break;
      this.remaining--;
      this.grant(this.queue.shift()!, t);
    }
    if (this.queue.length === 0) return;
    const opening = this.nextOpening(t);
    // Whoever cannot be served within their bound learns now how long it would be.
    this.queue = this.queue.filter((w) => {
      if (opening === null || opening <= w.deadline) return true;
      w.resolve({ ok: false, retryAfterMs: opening - t });
      return false;
    });
    if (this.queue.length === 0) return;
    let earliestDeadline = Math.min(...this.queue.map((w) => w.deadline));
    if (this.probing) earliestDeadline = Math.min(earliestDeadline, this.probeSince + PROBE_TIMEOUT_MS);
    const wakeAt = opening === null ? earliestDeadline : Math.min(opening, earliestDeadline);
    this.timer = setTimeout(() => this.expireAndPump(), Math.max(0, wakeAt - t));
  }

  private expireAndPump(): void {
    this.timer = null;
    const t = this.now();
    this.roll(t);
    const opening = this.nextOpening(t);
    this.queue = this.queue.filter((w) => {
      if (w.deadline > t || (opening !== null && opening <= t)) return true;
      // Past its bound with no reset in sight (no answer came back): let it go rather than hang.
      w.resolve({ ok: false, retryAfterMs: Math.max(1_000, (opening ?? t) - t) });
      return false;
    });
    this.pump();
  }
}
