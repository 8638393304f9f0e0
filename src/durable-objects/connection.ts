import { DurableObject } from "cloudflare:workers";

/** One per connection: the shared rate-limit view, async jobs and syncs, on one alarm. */
export class ConnectionObject extends DurableObject<Env> {
  /** Forget everything of this connection: storage, pending jobs, schedules, the alarm. */
  async destroy(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }
}
