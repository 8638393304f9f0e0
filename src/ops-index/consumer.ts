import { logUnhandled } from "../error-log";
import type { IndexMessage } from "./messages";
import { writeIndexBatch } from "./write";

/**
 * The INDEX_QUEUE consumer: one D1 batch per queue batch. A failure retries
 * the whole batch (writes are idempotent); after max_retries the queue moves
 * it to the dead-letter queue.
 */
export async function consumeIndexBatch(batch: MessageBatch<IndexMessage>, env: Env, _ctx?: ExecutionContext): Promise<void> {
  try {
    await writeIndexBatch(
      env.INDEX_DB,
      batch.messages.map((m) => m.body),
    );
    batch.ackAll();
  } catch (err) {
    logUnhandled("ops index: batch not written", err, { fields: { messages: batch.messages.length } });
    batch.retryAll({ delaySeconds: 2 });
  }
}
