/** The tokens dimension as one response described it (absolute reset, epoch ms). */
type TokenReading = { remaining?: number; resetAt?: number };

/** A request's place among its bucket's requests: was it the only one out, from send to answer? */
export type CalibrationTicket = { seq: number; alone: boolean };

/** Two readings whose resets differ by no more than this are of the same window. */
const SAME_WINDOW_MS = 50;
const MIN_RATIO = 0.1;
const MAX_RATIO = 10;
/** Weight of a new sample once a few are in (the first ones count more). */
const ALPHA = 0.3;

/**
 * How far a bucket's token estimates are from what the provider charges,
 * learned from how `remaining-tokens` moves across a request that was the
 * only one of its bucket in flight (and from the provider's own count in a
 * tokens 429): an exponentially weighted ratio of charged / estimated.
 */
export class TokenCalibration {
  ratio = 1;
  samples = 0;
  private inFlight = 0;
  private seq = 0;
  private last: { remaining: number; resetAt: number } | null = null;

  constructor(initial?: { ratio: number; samples: number }) {
    if (initial && Number.isFinite(initial.ratio) && initial.ratio > 0) {
      this.ratio = initial.ratio;
      this.samples = initial.samples;
    }
  }

  /** The calibrated charge for a raw estimate. */
  estimate(raw: number): number {
    return raw <= 0 ? 0 : Math.max(1, Math.ceil(raw * this.ratio));
  }

  /** A request of this bucket is going out. */
  start(): CalibrationTicket {
    const alone = this.inFlight === 0;
    this.inFlight++;
    return { seq: ++this.seq, alone };
  }

  /**
   * Its answer (or none): learns from it when nothing else of the bucket was
   * out meanwhile and the previous reading is of the same window. Returns the
   * sample taken, if any (to pass on to another holder of the bucket).
   */
  finish(ticket: CalibrationTicket, reading: TokenReading | null, raw: number): number | null {
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (!reading || reading.remaining === undefined || reading.resetAt === undefined) return null;
    const prev = this.last;
    this.last = { remaining: reading.remaining, resetAt: reading.resetAt };
    if (!ticket.alone || ticket.seq !== this.seq || !prev || raw <= 0) return null;
    if (Math.abs(prev.resetAt - reading.resetAt) > SAME_WINDOW_MS || prev.remaining <= reading.remaining) return null;
    const sample = (prev.remaining - reading.remaining) / raw;
    this.absorb(sample);
    return sample;
  }

  /** The provider's own count for a request (e.g. "Requested N" of a tokens 429). */
  charged(tokens: number, raw: number): number | null {
    if (raw <= 0 || tokens <= 0) return null;
    const sample = tokens / raw;
    this.absorb(sample);
    return sample;
  }

  /** Takes on another holder's calibration when it has seen more. */
  adopt(ratio: number, samples: number): void {
    if (samples <= this.samples || !Number.isFinite(ratio) || ratio <= 0) return;
    this.ratio = ratio;
    this.samples = samples;
  }

  /** A sample taken elsewhere (another isolate's answer). */
  absorb(sample: number): void {
    if (!Number.isFinite(sample) || sample <= 0) return;
    const s = Math.min(MAX_RATIO, Math.max(MIN_RATIO, sample));
    const alpha = Math.max(ALPHA, 1 / (this.samples + 1));
    this.ratio = this.ratio + alpha * (s - this.ratio);
    this.samples++;
  }
}
