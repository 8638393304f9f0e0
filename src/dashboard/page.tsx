import type { ConnectionRecord } from "../connections/index-store";
import type { OperationLog } from "../logs/types";
import { Layout } from "../ui/layout";
import type { PriceTable } from "../usage/types";
import { CHART_CSS, TopConnectionsChart, type TopConnection } from "./usage-charts";

/** The overview's usage section (src/dashboard/usage-charts.tsx): the environment's top connections, from the D1 index. */
/** `rankedAt`: when the list was ranked (a large environment's is kept and stored: src/dashboard/top-cache.ts). */
export type UsageSection = { top: TopConnection[]; prices: PriceTable; rankedAt: number | null };

export const time = (iso: string) => iso.replace("T", " ").slice(0, 19);

/** The connection's own page (src/dashboard/connection-page.tsx): its rate limits, syncs, usage charts and log. */
const connectionHref = (providerConfigKey: string, connectionId: string) =>
  `/dashboard/connections/${encodeURIComponent(providerConfigKey)}/${encodeURIComponent(connectionId)}`;

function ConnectionLink(props: { provider_config_key: string; connection_id: string }) {
  return (
    <a href={connectionHref(props.provider_config_key, props.connection_id)}>
      <code>{props.connection_id}</code>
    </a>
  );
}

/** The page's top bar: title, and the log-out button for a cookie session. */
export function Bar(props: { cookie: boolean }) {
  return (
    <header class="bar">
      <h1>
        <a href="/dashboard">terapi</a>
      </h1>
      {props.cookie ? (
        <form method="post" action="/dashboard/logout">
          <button type="submit" class="secondary">
            Log out
          </button>
        </form>
      ) : null}
    </header>
  );
}

/** Operation-log lines, newest first (the environment index on the overview, the connection's own log on its page). */
export function LogTable(props: { logs: OperationLog[]; link: boolean }) {
  if (props.logs.length === 0) return <p class="muted">Nothing logged in the last 7 days.</p>;
  return (
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
            <td>{props.link ? <ConnectionLink {...l} /> : <code>{l.connection_id}</code>}</td>
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
  );
}

function Usage(props: { usage: UsageSection; nonce: string }) {
  const { top, prices, rankedAt } = props.usage;
  return (
    <>
      <style nonce={props.nonce} dangerouslySetInnerHTML={{ __html: CHART_CSS }} />
      <h2 id="usage">Usage</h2>
      <p class="muted">
        Tokens and cost as the provider reported them (prices: <code>{prices.version}</code>). GET /usage has the numbers; each connection's page charts its
        last 48 hours and 30 days by model.
      </p>
      <h3 id="top-connections">Top connections by cost, last 30 days</h3>
      {top.length === 0 ? (
        <p class="muted">No usage in the environment index yet.</p>
      ) : (
        <>
          <TopConnectionsChart top={top} />
          {rankedAt === null ? null : (
            <p class="muted" id="top-ranked-at">
              Ranked {new Date(rankedAt).toISOString().slice(0, 19).replace("T", " ")} UTC; a list older than a minute is ranked again in the background when
              viewed.
            </p>
          )}
          <p>
            Open:{" "}
            {top.map((t, i) => (
              <>
                {i > 0 ? ", " : ""}
                <ConnectionLink {...t} />
              </>
            ))}
          </p>
        </>
      )}
    </>
  );
}

/**
 * The environment at a glance, read without asking any connection's object
 * (one Registry page, the D1 index's latest lines and usage sums): its cost
 * does not grow with the number of connections. Each connection's live state
 * (rate limits, syncs, usage charts) is on its own page.
 */
export function DashboardPage(props: {
  nonce: string;
  connections: ConnectionRecord[];
  logs: OperationLog[];
  more: boolean;
  cookie: boolean;
  usage?: UsageSection;
}) {
  return (
    <Layout title="terapi dashboard" nonce={props.nonce} wide>
      <Bar cookie={props.cookie} />
      <p class="lede">Read-only. Times are UTC.</p>

      <h2 id="connections">Connections</h2>
      {props.connections.length === 0 ? (
        <p class="muted">No connections yet.</p>
      ) : (
        <table aria-labelledby="connections">
          <thead>
            <tr>
              <th scope="col">Integration</th>
              <th scope="col">Connection</th>
              <th scope="col">End user</th>
              <th scope="col">Key</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {props.connections.map((c) => (
              <tr>
                <td>{c.provider_config_key}</td>
                <td>
                  <ConnectionLink {...c} />
                </td>
                <td>{c.end_user ? (c.end_user.email ?? c.end_user.id) : <span class="muted">—</span>}</td>
                <td>
                  <code>{c.key_hint}</code>
                </td>
                <td>{time(c.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {props.more ? <p class="muted">Showing the first {props.connections.length}; use GET /connections for the rest.</p> : null}
      {props.usage ? <Usage usage={props.usage} nonce={props.nonce} /> : null}

      <h2 id="logs">Latest operations</h2>
      <LogTable logs={props.logs} link />
    </Layout>
  );
}

export function NotFoundPage(props: { nonce: string; what: string }) {
  return (
    <Layout title="Not found · terapi dashboard" nonce={props.nonce}>
      <h1>Not found</h1>
      <p>{props.what}</p>
      <p>
        <a href="/dashboard">Back to the dashboard</a>
      </p>
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
