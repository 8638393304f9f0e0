import type { UsageRow } from "../usage/store";
import { DAY_MS, HOUR_MS } from "../usage/store";
import { costOf, priceOf } from "../usage/prices";
import type { PriceTable } from "../usage/types";

/**
 * Usage charts as server-rendered SVG: no script, no inline style attribute
 * (the page's CSP stays strict), colors as SVG presentation attributes.
 */

export type ConnectionUsageView = { provider_config_key: string; connection_id: string; hours: UsageRow[]; days: UsageRow[] };
export type TopConnection = { provider_config_key: string; connection_id: string; requests: number; tokens: number; cost: number };

/** The model of calls that name none (sync pages). */
const NO_MODEL = "none";

const PALETTE = ["#1f5fd1", "#d1731f", "#2e8540", "#8e44ad", "#b3261e", "#00838f", "#6d4c41", "#5c616a"];

export const CHART_CSS = `
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr));gap:1rem;margin:.5rem 0 1.5rem}
.chart{border:1px solid #e3e5e9;border-radius:8px;padding:.5rem .75rem;margin:0}
.chart h3{font-size:.95rem;margin:0 0 .25rem}
.chart svg{display:block;width:100%;height:auto}
.legend{display:flex;flex-wrap:wrap;gap:.25rem .75rem;font-size:.8rem;margin:.25rem 0 0;padding:0;list-style:none}
.legend svg{display:inline;width:.7rem;height:.7rem;vertical-align:middle;margin-right:.25rem}
`;

type Metric = "requests" | "tokens" | "cost";

function valueOf(r: UsageRow, metric: Metric, prices: PriceTable): number {
  if (metric === "requests") return r.requests;
  if (metric === "tokens") return r.input_tokens + r.output_tokens;
  return costOf(r, priceOf(prices, r.model));
}

export function formatValue(v: number, metric: Metric): string {
  if (metric === "cost") return v === 0 ? "$0" : v < 0.01 ? `$${v.toPrecision(2)}` : `$${v.toFixed(2)}`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  return String(Math.round(v));
}

/** Models in a stable order (by total tokens, then name) with their colors. */
function modelColors(rows: UsageRow[]): Map<string, string> {
  const totals = new Map<string, number>();
  for (const r of rows) totals.set(r.model, (totals.get(r.model) ?? 0) + r.input_tokens + r.output_tokens + r.requests);
  const models = [...totals.keys()].sort((a, b) => totals.get(b)! - totals.get(a)! || (a < b ? -1 : 1));
  return new Map(models.map((m, i) => [m, PALETTE[i % PALETTE.length]!]));
}

const W = 360;
const H = 140;
const PAD = { left: 44, right: 6, top: 8, bottom: 20 };

/** Stacked bars, one per bucket from `from` (`count` buckets of `step` ms), split by model. */
function StackedBars(props: {
  title: string;
  rows: UsageRow[];
  from: number;
  step: number;
  count: number;
  metric: Metric;
  prices: PriceTable;
  colors: Map<string, string>;
  label: (start: number) => string;
}) {
  const { rows, from, step, count, metric, prices, colors } = props;
  const stacks: Array<Array<[string, number]>> = Array.from({ length: count }, () => []);
  let total = 0;
  for (const r of rows) {
    const i = Math.floor((r.start - from) / step);
    const stack = stacks[i];
    if (stack === undefined) continue;
    const v = valueOf(r, metric, prices);
    total += v;
    const slot = stack.find((s) => s[0] === r.model);
    if (slot) slot[1] += v;
    else stack.push([r.model, v]);
  }
  const max = Math.max(0, ...stacks.map((s) => s.reduce((n, [, v]) => n + v, 0)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const bw = plotW / count;
  const y = (v: number) => (max > 0 ? (v / max) * plotH : 0);
  const ticks = [0, Math.floor(count / 2), count - 1];
  const summary = `${props.title}: ${formatValue(total, metric)} in total`;
  return (
    <figure class="chart">
      <h3>
        {props.title} <span class="muted">({formatValue(total, metric)})</span>
      </h3>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={summary}>
        <line x1={PAD.left} y1={PAD.top + plotH} x2={W - PAD.right} y2={PAD.top + plotH} stroke="#8a8f98" stroke-width="1" />
        <line x1={PAD.left} y1={PAD.top} x2={PAD.left} y2={PAD.top + plotH} stroke="#8a8f98" stroke-width="1" />
        <text x={PAD.left - 4} y={PAD.top + 8} text-anchor="end" font-size="9" fill="#4a4f57">
          {formatValue(max, metric)}
        </text>
        <text x={PAD.left - 4} y={PAD.top + plotH} text-anchor="end" font-size="9" fill="#4a4f57">
          0
        </text>
        {stacks.map((stack, i) => {
          let base = PAD.top + plotH;
          return stack
            .sort((a, b) => ((colors.get(a[0]) ?? "") < (colors.get(b[0]) ?? "") ? -1 : 1))
            .map(([model, v]) => {
              const h = y(v);
              base -= h;
              return (
                <rect
                  x={(PAD.left + i * bw + bw * 0.1).toFixed(2)}
                  y={base.toFixed(2)}
                  width={(bw * 0.8).toFixed(2)}
                  height={h.toFixed(2)}
                  fill={colors.get(model) ?? "#5c616a"}
                >
                  <title>{`${props.label(from + i * step)} ${model}: ${formatValue(v, metric)}`}</title>
                </rect>
              );
            });
        })}
        {ticks.map((i, n) => (
          <text
            x={(PAD.left + i * bw + bw / 2).toFixed(2)}
            y={H - 6}
            text-anchor={n === 0 ? "start" : n === ticks.length - 1 ? "end" : "middle"}
            font-size="9"
            fill="#4a4f57"
          >
            {props.label(from + i * step)}
          </text>
        ))}
      </svg>
    </figure>
  );
}

function Legend(props: { colors: Map<string, string> }) {
  return (
    <ul class="legend" aria-label="Models">
      {[...props.colors].map(([model, color]) => (
        <li>
          <svg viewBox="0 0 10 10" aria-hidden="true">
            <rect width="10" height="10" fill={color} />
          </svg>
          {model === NO_MODEL ? "no model (sync pages)" : model}
        </li>
      ))}
    </ul>
  );
}

const hourLabel = (t: number) => `${new Date(t).toISOString().slice(5, 10)} ${new Date(t).toISOString().slice(11, 13)}h`;
const dayLabel = (t: number) => new Date(t).toISOString().slice(5, 10);

/** One connection: requests, tokens and cost over the last 48 hours and 30 days, split by model. */
export function ConnectionUsageCharts(props: { usage: ConnectionUsageView; prices: PriceTable; now: number }) {
  const { usage, prices, now } = props;
  const colors = modelColors([...usage.days, ...usage.hours]);
  const hourFrom = now - (now % HOUR_MS) - 47 * HOUR_MS;
  const dayFrom = now - (now % DAY_MS) - 29 * DAY_MS;
  const id = `usage-${usage.provider_config_key}-${usage.connection_id}`.replace(/[^A-Za-z0-9_-]/g, "_");
  return (
    <section aria-labelledby={id}>
      <h3 id={id}>
        <code>{usage.connection_id}</code> <span class="muted">({usage.provider_config_key})</span>
      </h3>
      <Legend colors={colors} />
      <div class="charts">
        <StackedBars
          title="Requests, 48 h"
          rows={usage.hours}
          from={hourFrom}
          step={HOUR_MS}
          count={48}
          metric="requests"
          prices={prices}
          colors={colors}
          label={hourLabel}
        />
        <StackedBars
          title="Tokens, 48 h"
          rows={usage.hours}
          from={hourFrom}
          step={HOUR_MS}
          count={48}
          metric="tokens"
          prices={prices}
          colors={colors}
          label={hourLabel}
        />
        <StackedBars
          title="Cost, 48 h"
          rows={usage.hours}
          from={hourFrom}
          step={HOUR_MS}
          count={48}
          metric="cost"
          prices={prices}
          colors={colors}
          label={hourLabel}
        />
        <StackedBars
          title="Requests, 30 days"
          rows={usage.days}
          from={dayFrom}
          step={DAY_MS}
          count={30}
          metric="requests"
          prices={prices}
          colors={colors}
          label={dayLabel}
        />
        <StackedBars
          title="Tokens, 30 days"
          rows={usage.days}
          from={dayFrom}
          step={DAY_MS}
          count={30}
          metric="tokens"
          prices={prices}
          colors={colors}
          label={dayLabel}
        />
        <StackedBars
          title="Cost, 30 days"
          rows={usage.days}
          from={dayFrom}
          step={DAY_MS}
          count={30}
          metric="cost"
          prices={prices}
          colors={colors}
          label={dayLabel}
        />
      </div>
    </section>
  );
}

/** The environment's top connections by cost (30 days), as horizontal bars. */
export function TopConnectionsChart(props: { top: TopConnection[] }) {
  const rows = props.top;
  const max = Math.max(0, ...rows.map((r) => r.cost));
  const rowH = 22;
  const labelW = 170;
  const width = 560;
  const height = rows.length * rowH + 4;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label="Top connections by cost over the last 30 days">
        {rows.map((r, i) => {
          const w = max > 0 ? ((width - labelW - 150) * r.cost) / max : 0;
          const yy = i * rowH + 2;
          return (
            <g>
              <text x={labelW - 6} y={yy + 14} text-anchor="end" font-size="11" fill="#1a1a1a">
                {r.connection_id.length > 24 ? `${r.connection_id.slice(0, 23)}…` : r.connection_id}
              </text>
              <rect x={labelW} y={yy + 3} width={w.toFixed(2)} height={rowH - 8} fill={PALETTE[0]}>
                <title>{`${r.provider_config_key} / ${r.connection_id}`}</title>
              </rect>
              <text x={(labelW + w + 6).toFixed(2)} y={yy + 14} font-size="11" fill="#4a4f57">
                {`${formatValue(r.cost, "cost")} · ${formatValue(r.tokens, "tokens")} tokens · ${r.requests} req`}
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
