/**
 * One alarm per object serves everything it runs later (proxy jobs now, syncs
 * and more later): each kind of work says when it is next due, and the alarm
 * is kept at the earliest of them.
 */
type DueSource = () => number | null;

export function createAlarmScheduler(storage: DurableObjectStorage, sources: DueSource[]) {
  /** Makes sure the alarm fires no later than `at`. */
  async function wakeBy(at: number): Promise<void> {
    const current = await storage.getAlarm();
    if (current === null || at < current) await storage.setAlarm(at);
  }

  /** After a run: the alarm goes to the earliest due work, or away when there is none. */
  async function rearm(): Promise<void> {
    let earliest: number | null = null;
    for (const due of sources) {
      const at = due();
      if (at !== null && (earliest === null || at < earliest)) earliest = at;
    }
    if (earliest === null) await storage.deleteAlarm();
    else await storage.setAlarm(earliest);
  }

  return { wakeBy, rearm };
}
