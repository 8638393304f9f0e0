import type http from "node:http";
import { type RequestSpec, type Sample, type Target, closedLoop, keepAliveAgent, send } from "../lib/http.ts";

/** A small Chat Completions body, the same for both targets. */
export function chatRequest(stream: boolean): RequestSpec {
  return {
    method: "POST",
    path: "/v1/chat/completions",
    body: JSON.stringify({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Say hello in one short sentence." }],
      max_tokens: 16,
      ...(stream ? { stream: true } : {}),
    }),
  };
}

export type Side = { target: Target; agent: http.Agent; samples: Sample[]; elapsedMs: number };

export function sides(direct: Target, terapi: Target, maxSockets: number): [Side, Side] {
  const mk = (target: Target): Side => ({ target, agent: keepAliveAgent(maxSockets), samples: [], elapsedMs: 0 });
  return [mk(direct), mk(terapi)];
}

/**
 * Warm-up, then `rounds` alternating blocks (direct, terapi, direct, …) so that
 * drift on a shared 2-core machine hits both sides alike.
 */
export async function interleaved(opts: {
  sides: [Side, Side];
  spec: RequestSpec;
  concurrency: number;
  rounds: number;
  perRound: { count?: number; durationMs?: number };
  warmup: { count?: number; durationMs?: number };
  keepTail?: boolean;
}): Promise<void> {
  const fire = (s: Side) => () => send(s.agent, s.target, opts.spec, { keepTail: opts.keepTail, timeoutMs: 30_000 });
  for (const s of opts.sides) await closedLoop({ concurrency: opts.concurrency, ...opts.warmup, fire: fire(s) });
  for (let r = 0; r < opts.rounds; r++) {
    const order = r % 2 === 0 ? opts.sides : ([opts.sides[1], opts.sides[0]] as const);
    for (const s of order) {
      const { samples, elapsedMs } = await closedLoop({ concurrency: opts.concurrency, ...opts.perRound, fire: fire(s) });
      s.samples.push(...samples);
      s.elapsedMs += elapsedMs;
    }
  }
}

export function closeAgents(ss: Side[]): void {
  for (const s of ss) s.agent.destroy();
}
