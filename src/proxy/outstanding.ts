/**
 * Counts of requests under way in one isolate that forget the very old ones.
 *
 * A request whose context workerd cancels (the client went away mid-call) never
 * runs its `finally`, so a plain counter would keep it forever and, request by
 * request, eat a bucket's headroom until every call took the slow path. Counts
 * live in fixed epochs; only the current and the previous one are kept, so a
 * mark that never comes back is forgotten within two epochs.
 */
export const EPOCH_MS = 5 * 60_000;

/** What `add` handed out, given back to `remove`. */
export type Mark = { epoch: number; amount: number };

export class Outstanding {
  private epoch = 0;
  private cur = { n: 0, amount: 0 };
  private prev = { n: 0, amount: 0 };

  constructor(private readonly now: () => number) {}

  add(amount = 0): Mark {
    this.roll();
    this.cur.n++;
    this.cur.amount += amount;
    return { epoch: this.epoch, amount };
  }

  remove(mark: Mark): void {
    this.roll();
    const slot = mark.epoch === this.epoch ? this.cur : mark.epoch === this.epoch - 1 ? this.prev : null;
    if (!slot) return; // already forgotten
    slot.n = Math.max(0, slot.n - 1);
    slot.amount = Math.max(0, slot.amount - mark.amount);
  }

  /** How many are under way (not forgotten). */
  get count(): number {
    this.roll();
    return this.cur.n + this.prev.n;
  }

  /** The sum of their amounts (e.g. token estimates). */
  get amount(): number {
    this.roll();
    return this.cur.amount + this.prev.amount;
  }

  private roll(): void {
    const e = Math.floor(this.now() / EPOCH_MS);
    if (e === this.epoch) return;
    this.prev = e === this.epoch + 1 ? this.cur : { n: 0, amount: 0 };
    this.cur = { n: 0, amount: 0 };
    this.epoch = e;
  }
}
