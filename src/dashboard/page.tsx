import type { ConnectionRecord } from "../connections/index-store";
import type { OperationLog } from "../logs/types";
import type { BucketState } from "../proxy/rate-limiter";
import type { SyncStatus } from "../sync/engine";
import { Layout } from "../ui/layout";
import type { PriceTable } from "../usage/types";
import { CHART_CSS, ConnectionUsageCharts, TopConnectionsChart, type ConnectionUsageView, type TopConnection } from "./usage-charts";

/** The usage section (src/dashboard/usage-charts.tsx): connections with usage, and the environment's top ones. */
export type UsageSection = { charts: ConnectionUsageView[]; top: TopConnection[]; prices: PriceTable };

export type LimiterView = { buckets: BucketState[] };

export type ConnectionRow = {
  connection: ConnectionRecord;
  limiter: LimiterView | null;
  /** `null`: this build has no syncs, or they could not be read. */
  syncs: SyncStatus[] | null;
};

const time = (iso: string) => iso.replace("T", " ").slice(0, 19);

const seconds = (at: number, now: number) => `${Math.max(0, Math.ceil((at - now) / 1000))} s`;

function Dimension(props: { name: string; d: BucketState["requests"]; now: number }) {
  const d = props.d;
  if (d.blocked_until !== null) return <span><strong>{props.name} blocked</strong> for {seconds(d.blocked_until, props.now)}</span>;
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
  if (!l) return <span class="muted">unavailable</span>;
  if (l.buckets.length === 0) return <span class="muted">not seen yet</span>;
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
  if (props.syncs === null) return <span class="muted">—</span>;
  if (props.syncs.length === 0) return <span class="muted">none yet</span>;
  return (
    <span>
      {props.syncs.map((s, i) => (
        <span>
          {i > 0 ? ", " : ""}
          {s.name}: {s.status.toLowerCase()}
          {Object.values(s.recordCount).length ? ` (${Object.values(s.recordCount).reduce((a, b) => a + b, 0)})` : ""}
        </span>
      ))}
    </span>
  );
}

function Usage(props: { usage: UsageSection; nonce: string; now: number }) {
  const { charts, top, prices } = props.usage;
  return (
    <>
      <style nonce={props.nonce} dangerouslySetInnerHTML={{ __html: CHART_CSS }} />
      <h2 id="usage">Usage</h2>
      <p class="muted">
        Tokens and cost as the provider reported them (prices: <code>{prices.version}</code>). GET /usage has the numbers.
      </p>
      <h3 id="top-connections">Top connections by cost, last 30 days</h3>
      {top.length === 0 ? <p class="muted">No usage in the environment index yet.</p> : <TopConnectionsChart top={top} />}
      {charts.map((u) => (
        <ConnectionUsageCharts usage={u} prices={prices} now={props.now} />
      ))}
    </>
  );
}

export function DashboardPage(props: { nonce: string; rows: ConnectionRow[]; logs: OperationLog[]; more: boolean; cookie: boolean; now: number; usage?: UsageSection }) {
  return (
    <Layout title="terapi dashboard" nonce={props.nonce} wide>
      <header class="bar">
        <h1>terapi</h1>
        {props.cookie ? (
          <form method="post" action="/dashboard/logout">
            <button type="submit" class="secondary">
              Log out
            </button>
          </form>
        ) : null}
      </header>
      <p class="lede">Read-only. Times are UTC.</p>

      <h2 id="connections">Connections</h2>
      {props.rows.length === 0 ? (
        <p class="muted">No connections yet.</p>
      ) : (
        <table aria-labelledby="connections">
          <thead>
            <tr>
              <th scope="col">Integration</th>
              <th scope="col">Connection</th>
              <th scope="col">End user</th>
              <th scope="col">Key</th>
              <th scope="col">Rate limit</th>
              <th scope="col">Syncs</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {props.rows.map((r) => (
              <tr>
                <td>{r.connection.provider_config_key}</td>
                <td>
                  <code>{r.connection.connection_id}</code>
                </td>
                <td>{r.connection.end_user ? r.connection.end_user.email ?? r.connection.end_user.id : <span class="muted">—</span>}</td>
                <td>
                  <code>{r.connection.key_hint}</code>
                </td>
                <td>
                  <RateLimit limiter={r.limiter} now={props.now} />
                </td>
                <td>
                  <Syncs syncs={r.syncs} />
                </td>
                <td>{time(r.connection.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {props.more ? <p class="muted">Showing the first {props.rows.length}; use GET /connections for the rest.</p> : null}
      {props.usage ? <Usage usage={props.usage} nonce={props.nonce} now={props.now} /> : null}

      <h2 id="logs">Latest operations</h2>
      {props.logs.length === 0 ? (
        <p class="muted">Nothing logged in the last 7 days.</p>
      ) : (
        <table aria-labelledby="logs">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Connection</th>
              <th scope="col">Type</th>
              <th scope="col">Status</th>
              <th scope="col">Duration</th>
              <th scope="col">Retries / waited</th>
              <th scope="col">What</th>
              <th scope="col">Request id</th>
            </tr>
          </thead>
          <tbody>
            {props.logs.map((l) => (
              <tr>
                <td>{time(l.created_at)}</td>
                <td>
                  <code>{l.connection_id}</code>
                </td>
                <td>{l.type}</td>
                <td>
                  {l.status}
                  {l.http_status !== null ? ` ${l.http_status}` : ""}
                </td>
                <td>{l.duration_ms} ms</td>
                <td>
                  {l.retries} / {l.wait_ms} ms
                </td>
                <td>
                  {l.method ? `${l.method} ` : ""}
                  {l.path ?? l.detail ?? ""}
                  {l.path && l.detail ? ` (${l.detail})` : ""}
                </td>
                <td>
                  <code>{l.request_id ?? ""}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}

export function LoginPage(props: { nonce: string; error?: string }) {
  return (
    <Layout title={props.error ? "Error: log in to terapi" : "Log in to terapi"} nonce={props.nonce}>
      <h1>terapi dashboard</h1>
      <form method="post" action="/dashboard/login">
        <label for="secret_key">Secret key</label>
        <input
          type="password"
          id="secret_key"
          name="secret_key"
          required
          autocomplete="current-password"
          autofocus
          aria-invalid={props.error ? "true" : undefined}
          aria-describedby={props.error ? "secret_key-error" : undefined}
        />
        {props.error ? (
          <p class="error" id="secret_key-error" role="alert">
            {props.error}
          </p>
        ) : null}
        <button type="submit">Log in</button>
      </form>
    </Layout>
  );
}
