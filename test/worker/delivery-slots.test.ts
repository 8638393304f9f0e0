import { afterEach, describe, expect, it, vi } from "vitest";
import { createSlots } from "../../src/webhooks/delivery-slots";

/** A promise the test settles by hand. */
function gate() {
  let open!: () => void;
  let fail!: (err: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

/** Lets every settled promise's continuations run. */
const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

describe("delivery slots (a cap on attempts in flight per isolate)", () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  it("runs at most `max` at once, queues the rest in order, and frees a slot when an attempt settles, even by throwing", async () => {
    const slots = createSlots(2);
    const gates = Array.from({ length: 5 }, gate);
    const started: number[] = [];
    const runs = gates.map((g, i) =>
      slots.run(async () => {
        started.push(i);
        await g.promise;
        return i;
      }),
    );
    await settle();
    expect(started).toEqual([0, 1]);
    expect([slots.inFlight(), slots.queued()]).toEqual([2, 3]);

    gates[1].fail(new Error("receiver gone"));
    await expect(runs[1]).rejects.toThrow("receiver gone");
    await settle();
    expect(started).toEqual([0, 1, 2]);
    expect([slots.inFlight(), slots.queued()]).toEqual([2, 2]);

    gates[0].open();
    gates[2].open();
    await settle();
    expect(started).toEqual([0, 1, 2, 3, 4]);
    gates[3].open();
    gates[4].open();
    expect(await Promise.all([runs[0], runs[2], runs[3], runs[4]])).toEqual([0, 2, 3, 4]);
    expect([slots.inFlight(), slots.queued()]).toEqual([0, 0]);
  });

  it("many waiters do not each look again every period: their own timers are spaced by the queue's length, and the head is still woken by released slots", async () => {
    vi.useFakeTimers();
    const slots = createSlots(2, 100);
    const gates = Array.from({ length: 202 }, gate);
    const started: number[] = [];
    const runs = gates.map((g, i) =>
      slots.run(async () => {
        started.push(i);
        await g.promise;
      }),
    );
    await settle();
    expect([slots.inFlight(), slots.queued()]).toEqual([2, 200]);
    const timers = vi.spyOn(globalThis, "setTimeout");
    // Ten of the head waiters' periods: with one timer each per period, 2,000 timers would be set again.
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(100);
      await settle();
    }
    expect(timers.mock.calls.length).toBeLessThan(100);
    expect(started).toEqual([0, 1]);
    // A released slot still goes to a waiter at once (the queue's head; one that looked again went to its back).
    gates[0].open();
    await settle();
    expect(started).toHaveLength(3);
    expect([slots.inFlight(), slots.queued()]).toEqual([2, 199]);
    for (const g of gates) g.open();
    await vi.runAllTimersAsync();
    await Promise.all(runs);
    expect(started).toHaveLength(202);
    expect([slots.inFlight(), slots.queued()]).toEqual([0, 0]);
  });

  it("a caller arriving while slots are free does not wait", async () => {
    const slots = createSlots(1);
    let ran = false;
    const run = slots.run(async () => {
      ran = true;
    });
    await settle();
    expect(ran).toBe(true);
    await run;
    expect(slots.inFlight()).toBe(0);
  });
});
