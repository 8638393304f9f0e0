import { type CalibrationTicket, TokenCalibration } from "./calibration";
import { type DimensionObservation, observedBefore, type RateObservation } from "./observation";

/** Window generations of a grant: answers to requests granted in an older window do not move this one. */
export type Gens = { requests: number; tokens: number };

/** For reports of requests this object did not let through: they teach blocks and limits, never a window's remaining. */
export const NO_GEN: Gens = { requests: -1, tokens: -1 };

/** A slot to send one request now, or how long the caller would have had to wait. */
export type Grant =
  { ok: true; gen: Gens; waitedMs: number; probe: boolean; ticket: CalibrationTicket; ratio: number; samples: number } | { ok: false; retryAfterMs: number };

/** The answer to a granted request, as its sender reports it. */
export type Report = {
  gen: Gens;
  obs: RateObservation;
  probe?: boolean;
  ticket?: CalibrationTicket;
  /** Raw (uncalibrated) token estimate of the request. */
  raw?: number;
  /** A calibration sample the sender took (the isolate's own view). */
  sample?: number | null;
  /** What the provider said it charged (a tokens 429's message). */
  chargedTokens?: number | null;
};

/** What survives an eviction, per bucket: limits, "blocked until" and the calibration (window counts are short-lived). */
export type BucketSnapshot = {
  requestsLimit: number | null;
  tokensLimit: number | null;
  requestsBlockedUntil: number;
  tokensBlockedUntil: number;
  ratio: number;
  samples: number;
};

/** A bucket as `GET /connections/:id/limits` and the dashboard show it. */
export type BucketState = {
  bucket: string;
  requests: { limit: number | null; remaining: number | null; reset_at: number | null; blocked_until: number | null };
  tokens: { limit: number | null; remaining: number | null; reset_at: number | null; blocked_until: number | null };
  /** Requests held here now, waiting for room. */
  queued: number;
  /** Live requests that asked this object (were near a limit) since it started. */
  coordinated: number;
  /** Calibrated charge / raw estimate. */
  token_ratio: number;
  token_samples: number;
};

type Waiter = { resolve: (g: Grant) => void; since: number; deadline: number; tokens: number };

/** Added to every reset: clocks and windows never line up to the millisecond. */
export const SAFETY_MARGIN_MS = 30;
const PROBE_TIMEOUT_MS = 10_000;
/** Buckets kept in memory per connection; idle ones beyond this are forgotten first. */
const MAX_BUCKETS = 256;

class Dim {
  remaining = 0;
  /** End of the current window (margin included); 0 = not known yet. */
  resetAt = 0;
  gen = 0;
  /** When the newest answer merged here arrived (0: none yet); an older one never replaces what it said. */
  observedAt = 0;
  /** The latest answer to a request this object did not let through (shown, never used to decide). */
  private seen: { remaining: number; resetAt: number } | null = null;
  constructor(
    public limit: number | null,
    public blockedUntil: number,
  ) {
    if (limit !== null) this.remaining = limit;
  }

  /** A passed window gives its budget back. */
  roll(t: number): void {
    if (this.limit !== null && this.resetAt !== 0 && t >= this.resetAt && this.blockedUntil <= t) {
      this.remaining = this.limit;
      this.resetAt = 0;
      this.gen++;
    }
  }

  /** Returns whether what survives an eviction changed. */
  merge(o: DimensionObservation | undefined, gen: number, t: number): boolean {
    if (!o) return false;
    // A late report of an answer older than the newest one merged (its isolate was slow to tell, or an
    // isolate's hint is behind): it may still lower what is left, never restore an old limit or push the reset out.
    const stale = observedBefore(o, this.observedAt);
    if (!stale && o.at !== undefined && (o.limit ?? o.remaining ?? o.resetAt) !== undefined) this.observedAt = o.at;
    let changed = false;
    let newLimit = false;
    if (!stale && o.limit !== undefined && o.limit !== this.limit) {
      newLimit = this.limit !== null;
      this.remaining = this.limit === null ? o.limit : Math.min(this.remaining, o.limit);
      this.limit = o.limit;
      changed = true;
    }
    if (o.blockedUntil !== undefined && o.blockedUntil > this.blockedUntil) {
      this.blockedUntil = o.blockedUntil;
      // Everyone waits for the same reset; a fresh window opens then.
      this.remaining = 0;
      this.resetAt = o.blockedUntil;
      changed = true;
    }
    const { remaining, resetAt } = o;
    if (remaining === undefined || resetAt === undefined || resetAt <= t) return changed;
    // The provider's limit changed: the reset held was the old window's; this answer's replaces it.
    if (newLimit) this.resetAt = Math.max(this.blockedUntil, resetAt + SAFETY_MARGIN_MS);
    if (gen === this.gen) {
      this.remaining = Math.min(this.remaining, remaining);
      if (!stale) this.resetAt = Math.max(this.resetAt, resetAt + SAFETY_MARGIN_MS);
    } else if (gen < 0 && !stale) {
      this.seen = { remaining, resetAt };
    }
    return changed;
  }

  /** When `amount` fits (now: t), null if only a report can tell. */
  openingFor(amount: number, t: number): number | null {
    if (this.blockedUntil > t) return this.blockedUntil;
    if (this.fits(amount)) return t;
    return this.resetAt > t ? this.resetAt : null;
  }

  fits(amount: number): boolean {
    // A charge larger than the whole window goes when the window is full (the provider decides).
    return this.limit === null || this.remaining >= Math.min(amount, this.limit);
  }

  view(t: number) {
    const seen = this.seen && this.seen.resetAt > t ? this.seen : null;
    const remaining = this.limit === null ? null : Math.min(this.remaining, seen?.remaining ?? Infinity);
    const resetAt = Math.max(this.resetAt, seen?.resetAt ?? 0);
    return {
      limit: this.limit,
      remaining,
      reset_at: resetAt > t ? resetAt : null,
      blocked_until: this.blockedUntil > t ? this.blockedUntil : null,
    };
  }
}

/**
 * One bucket of a connection (a model, a model family or an endpoint), inside
 * its Durable Object: requests and tokens, each with its window. Requests
 * queue here (FIFO) and are released while both dimensions have room; when
 * one is spent or the provider said 429 on it, they are held on one real
 * timer until that dimension's reset instead of being sent to be rejected.
 */
class BucketLimiter {
  private readonly requests: Dim;
  private readonly tokens: Dim;
  readonly calibration: TokenCalibration;
  private probing = false;
  private probeSince = 0;
  private queue: Waiter[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private coordinated = 0;

  constructor(
    readonly name: string,
    initial: BucketSnapshot | undefined,
    private readonly persist: (s: BucketSnapshot) => void,
    private readonly now: () => number,
  ) {
    this.requests = new Dim(initial?.requestsLimit ?? null, initial?.requestsBlockedUntil ?? 0);
    this.tokens = new Dim(initial?.tokensLimit ?? null, initial?.tokensBlockedUntil ?? 0);
    this.calibration = new TokenCalibration(initial ? { ratio: initial.ratio, samples: initial.samples } : undefined);
  }

  /** Resolves when a request charging `tokens` may go (or with the wait it would need past `maxWaitMs`). */
  acquire(hint: RateObservation, tokens: number, maxWaitMs: number): Promise<Grant> {
    this.coordinated++;
    this.merge(hint, this.gens());
    const since = this.now();
    return new Promise<Grant>((resolve) => {
      this.queue.push({ resolve, since, deadline: since + maxWaitMs, tokens });
      this.pump();
    });
  }

  /** A slot if one is free right now, else when to try again (for background work on the alarm). */
  tryAcquire(tokens: number): { ok: true; gen: Gens; ticket: CalibrationTicket } | { ok: false; at: number } {
    const t = this.now();
    this.roll(t);
    if (this.queue.length === 0) {
      const opening = this.openingFor(tokens, t);
      if (opening === t && (this.requests.limit !== null || !this.probing)) {
        this.take(tokens);
        return { ok: true, gen: this.gens(), ticket: this.calibration.start() };
      }
      if (opening !== null && opening > t) return { ok: false, at: opening };
    }
    return { ok: false, at: this.nextOpening(t) ?? t + 1_000 };
  }

  /** The answer to a granted request: what the provider said about the budget. */
  report(r: Report): void {
    if (r.probe) this.probing = false;
    let calibrated = false;
    // A sender that calibrated on its own answer passes its sample; the ticket then only closes the request here.
    if (r.ticket) calibrated = this.calibration.finish(r.ticket, r.obs.tokens ?? null, r.sample != null ? 0 : (r.raw ?? 0)) !== null;
    if (r.sample != null) {
      this.calibration.absorb(r.sample);
      calibrated = true;
    }
    if (r.chargedTokens != null && r.raw) calibrated = this.calibration.charged(r.chargedTokens, r.raw) !== null || calibrated;
    this.merge(r.obs, r.gen, calibrated);
    this.pump();
  }

  estimate(raw: number): number {
    return this.calibration.estimate(raw);
  }

  /** Nothing held, nothing blocked: can be forgotten. */
  idle(): boolean {
    const t = this.now();
    return this.queue.length === 0 && this.requests.blockedUntil <= t && this.tokens.blockedUntil <= t;
  }

  state(): BucketState {
    const t = this.now();
    this.roll(t);
    return {
      bucket: this.name,
      requests: this.requests.view(t),
      tokens: this.tokens.view(t),
      queued: this.queue.length,
      coordinated: this.coordinated,
      token_ratio: Math.round(this.calibration.ratio * 1000) / 1000,
      token_samples: this.calibration.samples,
    };
  }

  private gens(): Gens {
    return { requests: this.requests.gen, tokens: this.tokens.gen };
  }

  private snapshot(): BucketSnapshot {
    return {
      requestsLimit: this.requests.limit,
      tokensLimit: this.tokens.limit,
      requestsBlockedUntil: this.requests.blockedUntil,
      tokensBlockedUntil: this.tokens.blockedUntil,
      ratio: this.calibration.ratio,
      samples: this.calibration.samples,
    };
  }

  private merge(obs: RateObservation, gen: Gens, force = false): void {
    const t = this.now();
    const a = this.requests.merge(obs.requests, gen.requests, t);
    const b = this.tokens.merge(obs.tokens, gen.tokens, t);
    if (a || b || force) this.persist(this.snapshot());
  }

  private roll(t: number): void {
    this.requests.roll(t);
    this.tokens.roll(t);
  }

  private take(tokens: number): void {
    if (this.requests.limit !== null) this.requests.remaining--;
    if (tokens > 0 && this.tokens.limit !== null) this.tokens.remaining = Math.max(0, this.tokens.remaining - tokens);
  }

  /** When a request charging `tokens` fits: t = now, null = only a report can tell. */
  private openingFor(tokens: number, t: number): number | null {
    const dims: [Dim, number][] = [[this.requests, 1]];
    if (tokens > 0) dims.push([this.tokens, tokens]);
    let at = t;
    for (const [d, amount] of dims) {
      const o = d.openingFor(amount, t);
      if (o === null) return null;
      at = Math.max(at, o);
    }
    return at;
  }

  /** When the queue's head can move next, if known (otherwise it moves on the next report). */
  private nextOpening(t: number): number | null {
    const o = this.openingFor(this.queue[0]?.tokens ?? 0, t);
    return o !== null && o > t ? o : null;
  }

  private grant(w: Waiter, t: number, probe = false): void {
    w.resolve({
      ok: true,
      gen: this.gens(),
      waitedMs: t - w.since,
      probe,
      ticket: this.calibration.start(),
      ratio: this.calibration.ratio,
      samples: this.calibration.samples,
    });
  }

  private pump(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const t = this.now();
    this.roll(t);
    for (let head = this.queue[0]; head !== undefined; head = this.queue[0]) {
      if (this.openingFor(head.tokens, t) !== t) break;
      if (this.requests.limit === null) {
        // Nothing known: one probe goes, the rest wait for its headers.
        // A probe whose answer never came (its isolate went away) does not block forever.
        if (this.probing && t - this.probeSince < PROBE_TIMEOUT_MS) break;
        this.probing = true;
        this.probeSince = t;
        this.take(head.tokens);
        this.queue.shift();
        this.grant(head, t, true);
        break;
      }
      this.take(head.tokens);
      this.queue.shift();
      this.grant(head, t);
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
    const open = opening === null ? this.openingFor(this.queue[0]?.tokens ?? 0, t) === t : false;
    this.queue = this.queue.filter((w) => {
      if (w.deadline > t || open || (opening !== null && opening <= t)) return true;
      // Past its bound with no reset in sight (no answer came back): let it go rather than hang.
      w.resolve({ ok: false, retryAfterMs: Math.max(1_000, (opening ?? t) - t) });
      return false;
    });
    this.pump();
  }
}

/**
 * The connection's limits inside its Durable Object: one `BucketLimiter` per
 * bucket, so a bucket that is spent never holds another. Bounded: idle
 * buckets beyond `MAX_BUCKETS` are forgotten, least recently used first.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, BucketLimiter>();

  constructor(
    private readonly saved: (bucket: string) => BucketSnapshot | undefined,
    private readonly persist: (bucket: string, s: BucketSnapshot | null) => void,
    private readonly now: () => number = () => Date.now(),
    private readonly maxBuckets = MAX_BUCKETS,
  ) {}

  bucket(name: string): BucketLimiter {
    let b = this.buckets.get(name);
    if (b) {
      this.buckets.delete(name);
      this.buckets.set(name, b);
      return b;
    }
    b = new BucketLimiter(name, this.saved(name), (s) => this.persist(name, s), this.now);
    this.buckets.set(name, b);
    if (this.buckets.size > this.maxBuckets) {
      for (const [other, ob] of this.buckets) {
        if (other === name || !ob.idle()) continue;
        this.buckets.delete(other);
        this.persist(other, null);
        break;
      }
    }
    return b;
  }

  acquire(bucket: string, tokens: number, hint: RateObservation, maxWaitMs: number): Promise<Grant> {
    return this.bucket(bucket).acquire(hint, tokens, maxWaitMs);
  }

  tryAcquire(bucket: string, tokens: number) {
    return this.bucket(bucket).tryAcquire(tokens);
  }

  report(bucket: string, r: Report): void {
    this.bucket(bucket).report(r);
  }

  /** The calibrated charge of a raw estimate in `bucket`. */
  estimate(bucket: string, raw: number): number {
    return this.bucket(bucket).estimate(raw);
  }

  /** Every bucket in memory, most recently used last. */
  state(): BucketState[] {
    return [...this.buckets.values()].map((b) => b.state());
  }
}
