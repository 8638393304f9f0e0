import type { BucketState } from "../proxy/rate-limiter";
import type { OperationLog } from "../logs/types";
import type { ConnectionRecord } from "../connections/index-store";
import type { SyncStatus } from "../sync/engine";
import { Layout } from "../ui/layout";
import type { PriceTable } from "../usage/types";
import { Bar, LogTable, time } from "./page";
import { CHART_CSS, ConnectionUsageCharts, type ConnectionUsageView } from "./usage-charts";

type LimiterView = { buckets: BucketState[] };

/** What one connection's object answered; `null` parts could not be read (the page still renders). */
export type ConnectionDetail = {
  connection: ConnectionRecord;
  limiter: LimiterView | null;
  syncs: SyncStatus[] | null;
  usage: ConnectionUsageView | null;
  logs: OperationLog[] | null;
  prices: PriceTable;
};

const seconds = (at: number, now: number) => `${Math.max(0, Math.ceil((at - now) / 1000))} s`;

function Dimension(props: { name: string; d: BucketState["requests"]; now: number }) {
  const d = props.d;
  if (d.blocked_until !== null)
    return (
      <span>
        <strong>{props.name} blocked</strong> for {seconds(d.blocked_until, props.now)}
      </span>
    );
  if (d.limit === null) return <span class="muted">{props.name} not seen yet</span>;
  return (
    <span>
      {d.remaining ?? "?"} / {d.limit} left{d.reset_at !== null ? ` (reset in ${seconds(d.reset_at, props.now)})` : ""}
    </span>
  );
}

/** One line per bucket (model, model family or endpoint): requests and tokens left, resets, requests held. */
function RateLimit(props: { limiter: LimiterView | null; now: number }) {
  const l = props.limiter;
  if (!l) return <p class="muted">unavailable</p>;
  if (l.buckets.length === 0) return <p class="muted">not seen yet</p>;
  return (
    <ul class="plain">
      {l.buckets.map((b) => (
        <li>
          <code>{b.bucket}</code> requests <Dimension name="requests" d={b.requests} now={props.now} />; tokens{" "}
          <Dimension name="tokens" d={b.tokens} now={props.now} />
          {b.queued ? `; ${b.queued} held` : ""}
        </li>
      ))}
    </ul>
  );
}

function Syncs(props: { syncs: SyncStatus[] | null }) {
  if (props.syncs === null) return <p class="muted">—</p>;
  if (props.syncs.length === 0) return <p class="muted">none yet</p>;
  return (
    <ul class="plain">
      {props.syncs.map((s) => (
        <li>
          {s.name}: {s.status.toLowerCase()}
          {Object.values(s.recordCount).length ? ` (${Object.values(s.recordCount).reduce((a, b) => a + b, 0)})` : ""}
        </li>
      ))}
    </ul>
  );
}

/** One connection's live state, from its own object: rate limits, syncs, usage charts and its log. */
export function ConnectionPage(props: { nonce: string; detail: ConnectionDetail; cookie: boolean; now: number }) {
  const { connection: c, limiter, syncs, usage, logs, prices } = props.detail;
  return (
    <Layout title={`${c.connection_id} · terapi dashboard`} nonce={props.nonce} wide>
      <style nonce={props.nonce} dangerouslySetInnerHTML={{ __html: CHART_CSS }} />
      <Bar cookie={props.cookie} />
      <p class="lede">
        <a href="/dashboard">All connections</a> · Read-only. Times are UTC.
      </p>
      <h2 id="connection">
        <code>{c.connection_id}</code> <span class="muted">({c.provider_config_key})</span>
      </h2>
      <p>
        End user: {c.end_user ? (c.end_user.email ?? c.end_user.id) : <span class="muted">—</span>} · key <code>{c.key_hint}</code> · created{" "}
        {time(c.created_at)}
      </p>
      <h2 id="rate-limit">Rate limit</h2>
      <RateLimit limiter={limiter} now={props.now} />
      <h2 id="syncs">Syncs</h2>
      <Syncs syncs={syncs} />
      <h2 id="usage">Usage</h2>
      <p class="muted">
        Tokens and cost as the provider reported them (prices: <code>{prices.version}</code>).
      </p>
      {usage === null ? <p class="muted">unavailable</p> : <ConnectionUsageCharts usage={usage} prices={prices} now={props.now} />}
      <h2 id="logs">Latest operations</h2>
      {logs === null ? <p class="muted">unavailable</p> : <LogTable logs={logs} link={false} />}
    </Layout>
  );
}
