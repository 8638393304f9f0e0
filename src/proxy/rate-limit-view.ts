import type { RateObservation } from "./observation";

/**
 * The isolate's own picture of each connection's budget, learned from every
 * response. It decides whether a request can go straight upstream (far from
 * the limit: no Durable Object round trip) or must be coordinated by the
 * connection's Durable Object (low budget, after a 429, or a burst before
 * anything is known).
 */
type View = {
  limit?: number;
  remaining?: number;
  resetAt: number;
  blockedUntil: number;
  /** Requests of this connection sent from this isolate and not answered yet. */
  inFlight: number;
  /** Set while the first request is out and nothing is known: others wait for its headers. */
  probe?: Promise<void>;
  endProbe?: () => void;
  /** A response came back (with or without rate-limit headers). */
  probed: boolean;
  lastUsed: number;
};

export type Route = "direct" | "coordinate" | "wait-probe";

export type RateLimitViewOptions = { maxEntries?: number; now?: () => number };

/** Far from the limit means: more left than this, after what is already in flight. */
export const headroom = (limit: number) => Math.max(3, Math.ceil(limit * 0.2));

export function createRateLimitView(opts: RateLimitViewOptions = {}) {
  const maxEntries = opts.maxEntries ?? 10_000;
  const now = opts.now ?? (() => Date.now());
  const views = new Map<string, View>();

  function view(key: string): View {
    let v = views.get(key);
    if (!v) {
      v = { resetAt: 0, blockedUntil: 0, inFlight: 0, probed: false, lastUsed: now() };
      views.set(key, v);
      if (views.size > maxEntries) {
        const oldest = views.keys().next().value;
        if (oldest !== undefined && oldest !== key) views.delete(oldest);
      }
    }
    v.lastUsed = now();
    return v;
  }

  /** Remaining budget as this isolate believes it, or undefined when unknown. */
  function remainingNow(v: View, t: number): number | undefined {
    if (v.limit === undefined || v.remaining === undefined) return undefined;
    // The window has passed: the budget is back (the provider's next answer corrects us).
    return v.resetAt && t >= v.resetAt ? v.limit : v.remaining;
  }

  function route(key: string): Route {
    const v = view(key);
    const t = now();
    if (v.blockedUntil > t) return "coordinate";
    const left = remainingNow(v, t);
    if (left === undefined || v.limit === undefined) {
      // The provider sends no budget headers: nothing to coordinate on.
      if (v.probed) return "direct";
      if (v.probe) return "wait-probe";
      return v.inFlight === 0 ? "direct" : "coordinate";
    }
    return left - v.inFlight > headroom(v.limit) ? "direct" : "coordinate";
  }

  /** The request is going upstream now. The first one with nothing known becomes the probe. */
  function begin(key: string): void {
    const v = view(key);
    if (!v.probed && !v.probe && v.limit === undefined) {
      v.probe = new Promise<void>((resolve) => {
        v.endProbe = resolve;
      });
    }
    v.inFlight++;
  }

  /** Resolves when the probe's answer (or failure) is in. */
  function probeDone(key: string): Promise<void> {
    return view(key).probe ?? Promise.resolve();
  }

  function finish(key: string, obs: RateObservation | null): void {
    const v = view(key);
    v.inFlight = Math.max(0, v.inFlight - 1);
    if (obs) learn(key, obs);
    if (v.probe) {
      v.probed = obs !== null || v.probed;
      const end = v.endProbe;
      v.probe = undefined;
      v.endProbe = undefined;
      end?.();
    }
  }

  function learn(key: string, obs: RateObservation): void {
    const v = view(key);
    if (obs.limit !== undefined) v.limit = obs.limit;
    if (obs.remaining !== undefined) v.remaining = obs.remaining;
    if (obs.resetAt !== undefined) v.resetAt = obs.resetAt;
    if (obs.blockedUntil !== undefined && obs.blockedUntil > v.blockedUntil) {
      v.blockedUntil = obs.blockedUntil;
      v.remaining = 0;
      v.resetAt = Math.max(v.resetAt, obs.blockedUntil);
    }
    v.probed = true;
  }

  /** What the Durable Object should know from this isolate, net of this isolate's requests in flight. */
  function hint(key: string): RateObservation {
    const v = view(key);
    const t = now();
    const h: RateObservation = {};
    if (v.limit !== undefined) h.limit = v.limit;
    const left = remainingNow(v, t);
    if (left !== undefined && v.resetAt > t) {
      h.remaining = Math.max(0, left - v.inFlight);
      h.resetAt = v.resetAt;
    }
    if (v.blockedUntil > t) h.blockedUntil = v.blockedUntil;
    return h;
  }

  return { route, begin, finish, learn, hint, probeDone, clear: () => views.clear() };
}

export type RateLimitView = ReturnType<typeof createRateLimitView>;
