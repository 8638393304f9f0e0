import { type CalibrationTicket, TokenCalibration } from "./calibration";
import { type DimensionObservation, observedBefore, type RateObservation } from "./observation";
import { type Mark, Outstanding } from "./outstanding";

/**
 * The isolate's own picture of each (connection, bucket) budget, requests and
 * tokens, learned from every response. It decides whether a request can go
 * straight upstream (far from both limits: no Durable Object round trip) or
 * must be coordinated by the connection's Durable Object (low budget, after a
 * 429 on a dimension it needs, or a burst before anything is known). A
 * bucket's state never holds another bucket's requests.
 */
type Dim = {
  limit?: number;
  remaining?: number;
  resetAt: number;
  blockedUntil: number;
  /** When the answer that told limit, remaining and resetAt arrived (0: none yet). */
  observedAt: number;
};

type View = {
  requests: Dim;
  tokens: Dim;
  /** Requests of this bucket sent from this isolate and not answered yet, and their token estimates. */
  inFlight: Outstanding;
  /** Requests of this bucket from this isolate held by the connection's object right now: newcomers queue behind them. */
  held: Outstanding;
  /**
   * Set while the first request is out and nothing is known: others wait for its
   * headers, for at most PROBE_WAIT_MS (the probe's request may be cancelled and
   * never report back).
   */
  probe?: Promise<void>;
  probeAt: number;
  endProbe?: () => void;
  /** A response came back (with or without rate-limit headers). */
  probed: boolean;
  calibration: TokenCalibration;
  /** When this isolate last told the object what a direct answer said (for what the object shows). */
  sharedAt: number;
};

type Route = "direct" | "coordinate" | "wait-probe";

/** One request on its way: what `begin` handed out, given back to `finish`. */
type Sending = { tokens: number; raw: number; ticket: CalibrationTicket; mark: Mark };

type RateLimitViewOptions = { maxEntries?: number; now?: () => number };

/** Far from the limit means: more left than this, after what is already in flight. */
const headroom = (limit: number) => Math.max(3, Math.ceil(limit * 0.2));
/** For tokens: a fifth of the window stays for the object to hand out. */
const tokenHeadroom = (limit: number) => Math.ceil(limit * 0.2);

const SHARE_EVERY_MS = 5_000;
/** How long others wait for a probe's answer before asking the connection's object instead. */
export const PROBE_WAIT_MS = 2_000;

const newDim = (): Dim => ({ resetAt: 0, blockedUntil: 0, observedAt: 0 });

/** Remaining budget of a dimension as this isolate believes it, or undefined when unknown. */
function remainingNow(d: Dim, t: number): number | undefined {
  if (d.limit === undefined || d.remaining === undefined) return undefined;
  // The window has passed: the budget is back (the provider's next answer corrects us).
  return d.resetAt && t >= d.resetAt ? d.limit : d.remaining;
}

function learnDim(d: Dim, o: DimensionObservation | undefined): void {
  if (!o) return;
  // An answer that arrived before the one this picture comes from is out of date: only its block counts.
  if (!observedBefore(o, d.observedAt)) {
    if (o.limit !== undefined) d.limit = o.limit;
    if (o.remaining !== undefined) d.remaining = o.remaining;
    if (o.resetAt !== undefined) d.resetAt = o.resetAt;
    if (o.at !== undefined && (o.limit ?? o.remaining ?? o.resetAt) !== undefined) d.observedAt = o.at;
  }
  if (o.blockedUntil !== undefined && o.blockedUntil > d.blockedUntil) {
    d.blockedUntil = o.blockedUntil;
    d.remaining = 0;
    d.resetAt = Math.max(d.resetAt, o.blockedUntil);
  }
}

function hintDim(d: Dim, t: number, inFlight: number): DimensionObservation {
  const h: DimensionObservation = {};
  if (d.observedAt > 0) h.at = d.observedAt;
  if (d.limit !== undefined) h.limit = d.limit;
  const left = remainingNow(d, t);
  if (left !== undefined && d.resetAt > t) {
    h.remaining = Math.max(0, left - inFlight);
    h.resetAt = d.resetAt;
  }
  if (d.blockedUntil > t) h.blockedUntil = d.blockedUntil;
  return h;
}

export function createRateLimitView(opts: RateLimitViewOptions = {}) {
  const maxEntries = opts.maxEntries ?? 10_000;
  const now = opts.now ?? (() => Date.now());
  const views = new Map<string, View>();
  /** The entry last used (a call touches its bucket several times): already in the last place. */
  let last: { key: string; v: View } | undefined;

  function view(key: string): View {
    if (last !== undefined && last.key === key) return last.v;
    let v = views.get(key);
    if (v) {
      // Most recently used last: the first entry is the one to drop.
      views.delete(key);
      views.set(key, v);
      last = { key, v };
      return v;
    }
    v = {
      requests: newDim(),
      tokens: newDim(),
      inFlight: new Outstanding(now),
      held: new Outstanding(now),
      probeAt: 0,
      probed: false,
      calibration: new TokenCalibration(),
      sharedAt: 0,
    };
    views.set(key, v);
    last = { key, v };
    if (views.size > maxEntries) {
      const oldest = views.keys().next().value;
      if (oldest !== undefined && oldest !== key) views.delete(oldest);
    }
    return v;
  }

  /** The calibrated token charge of a raw estimate in this bucket. */
  function estimate(key: string, raw: number): number {
    return view(key).calibration.estimate(raw);
  }

  function route(key: string, tokens = 0): Route {
    const v = view(key);
    const t = now();
    if (v.held.count > 0 || v.requests.blockedUntil > t || (tokens > 0 && v.tokens.blockedUntil > t)) return "coordinate";
    const left = remainingNow(v.requests, t);
    if (left === undefined || v.requests.limit === undefined) {
      // The provider sends no budget headers: nothing to coordinate on.
      if (v.probed) return "direct";
      if (v.probe && t - v.probeAt < PROBE_WAIT_MS) return "wait-probe";
      return v.inFlight.count === 0 ? "direct" : "coordinate";
    }
    if (left - v.inFlight.count <= headroom(v.requests.limit)) return "coordinate";
    if (tokens === 0) return "direct";
    const tokLeft = remainingNow(v.tokens, t);
    if (tokLeft === undefined || v.tokens.limit === undefined) return "direct";
    return tokLeft - v.inFlight.amount - tokens >= tokenHeadroom(v.tokens.limit) ? "direct" : "coordinate";
  }

  /** The request is going upstream now. The first one with nothing known becomes the probe. */
  function begin(key: string, tokens = 0, raw = 0): Sending {
    const v = view(key);
    if (!v.probed && !v.probe && v.requests.limit === undefined) {
      v.probeAt = now();
      v.probe = new Promise<void>((resolve) => {
        v.endProbe = resolve;
      });
    }
    return { tokens, raw, ticket: v.calibration.start(), mark: v.inFlight.add(tokens) };
  }

  /** Runs `acquire` (the object's queue) counting it as held, so no request of this isolate overtakes it. */
  async function held<T>(key: string, acquire: () => Promise<T>): Promise<T> {
    const v = view(key);
    const mark = v.held.add();
    try {
      return await acquire();
    } finally {
      v.held.remove(mark);
    }
  }

  /**
   * Resolves when the probe's answer (or failure) is in, or when waiting for it
   * has lasted PROBE_WAIT_MS. The timer is the caller's own: a probe whose
   * request was cancelled never resolves, and must not hang the others.
   */
  function probeDone(key: string): Promise<void> {
    const v = view(key);
    if (!v.probe) return Promise.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const giveUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, v.probeAt + PROBE_WAIT_MS - now()));
    });
    return Promise.race([v.probe, giveUp]).finally(() => {
      if (timer !== undefined) clearTimeout(timer);
    });
  }

  /**
   * The answer to a request (null: none came). Returns the calibration sample
   * it gave, if any, so the connection's object can learn it too.
   */
  function finish(key: string, sending: Sending, obs: RateObservation | null, chargedTokens: number | null = null): number | null {
    const v = view(key);
    v.inFlight.remove(sending.mark);
    let sample = v.calibration.finish(sending.ticket, obs?.tokens ?? null, sending.raw);
    if (chargedTokens !== null) sample = v.calibration.charged(chargedTokens, sending.raw) ?? sample;
    if (obs) learn(key, obs);
    if (v.probe) {
      v.probed = obs !== null || v.probed;
      const end = v.endProbe;
      v.probe = undefined;
      v.endProbe = undefined;
      end?.();
    }
    return sample;
  }

  function learn(key: string, obs: RateObservation): void {
    const v = view(key);
    learnDim(v.requests, obs.requests);
    learnDim(v.tokens, obs.tokens);
    v.probed = true;
  }

  /**
   * Whether to pass a direct answer's budget on to the object now (in the
   * background), so that what it shows covers buckets that never needed it:
   * at most once per `SHARE_EVERY_MS` per bucket and isolate.
   */
  function share(key: string): boolean {
    const v = view(key);
    const t = now();
    if (t - v.sharedAt < SHARE_EVERY_MS) return false;
    v.sharedAt = t;
    return true;
  }

  /** Takes on the object's calibration when it knows more than this isolate. */
  function adopt(key: string, ratio: number, samples: number): void {
    view(key).calibration.adopt(ratio, samples);
  }

  /** What the Durable Object should know from this isolate, net of this isolate's requests in flight. */
  function hint(key: string): RateObservation {
    const v = view(key);
    const t = now();
    return { requests: hintDim(v.requests, t, v.inFlight.count), tokens: hintDim(v.tokens, t, v.inFlight.amount) };
  }

  return {
    route,
    begin,
    finish,
    held,
    share,
    learn,
    hint,
    probeDone,
    estimate,
    adopt,
    clear: () => {
      views.clear();
      last = undefined;
    },
    size: () => views.size,
  };
}

export type RateLimitView = ReturnType<typeof createRateLimitView>;
