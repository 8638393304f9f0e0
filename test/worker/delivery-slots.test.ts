import { describe, expect, it } from "vitest";
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
