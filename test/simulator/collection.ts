/** Insertion-ordered store with cursor pagination (OpenAI's after/limit/has_more). */
export class Collection<T extends { id: string }> {
  private items = new Map<string, T>();
  private order: string[] = [];
  private pos = new Map<string, number>();
  private dirty = false;

  get size(): number {
    return this.items.size;
  }
  get(id: string): T | undefined {
    return this.items.get(id);
  }
  add(item: T): T {
    if (!this.items.has(item.id)) {
      if (!this.dirty) this.pos.set(item.id, this.order.length);
      this.order.push(item.id);
    }
    this.items.set(item.id, item);
    return item;
  }
  delete(id: string): boolean {
    if (!this.items.delete(id)) return false;
    this.dirty = true;
    return true;
  }
  private compact(): void {
    if (!this.dirty) return;
    this.order = this.order.filter((id) => this.items.has(id));
    this.pos = new Map(this.order.map((id, i) => [id, i]));
    this.dirty = false;
  }
  /** Ids oldest first. */
  ids(): string[] {
    this.compact();
    return this.order;
  }
  values(): T[] {
    return this.ids().map((id) => this.items.get(id) as T);
  }
  /**
   * One page. `desc` walks newest first. `after`/`before` are ids (exclusive).
   * An unknown cursor gives an empty page.
   */
  page(opts: { after?: string; before?: string; limit: number; order: "asc" | "desc"; filter?: (t: T) => boolean }): {
    data: T[];
    has_more: boolean;
  } {
    this.compact();
    const { limit, order, filter } = opts;
    const n = this.order.length;
    const step = order === "desc" ? -1 : 1;
    let i = order === "desc" ? n - 1 : 0;
    if (opts.after) {
      const p = this.pos.get(opts.after);
      if (p === undefined) return { data: [], has_more: false };
      i = p + step;
    }
    let stop = order === "desc" ? -1 : n;
    if (opts.before) {
      const p = this.pos.get(opts.before);
      if (p !== undefined) stop = p;
    }
    const data: T[] = [];
    for (; i !== stop && i >= 0 && i < n; i += step) {
      const it = this.items.get(this.order[i]) as T;
      if (filter && !filter(it)) continue;
      if (data.length === limit) return { data, has_more: true };
      data.push(it);
    }
    return { data, has_more: false };
  }
}
