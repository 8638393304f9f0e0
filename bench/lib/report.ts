// The printed table and the targets next to each figure.
import type { Paired } from "./stats.ts";
import type { Row } from "./types.ts";

function fmt(v: number | null, unit: Row["unit"]): string {
  if (v === null || Number.isNaN(v)) return "–";
  switch (unit) {
    case "ms":
      return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;
    case "req/s":
    case "records/s":
      return `${Math.round(v).toLocaleString("en-US")} ${unit}`;
    case "count":
      return String(Math.round(v));
    case "s":
      return `${v.toFixed(2)} s`;
    case "MiB":
      return `${v.toFixed(1)} MiB`;
    case "KiB":
      return `${v.toFixed(0)} KiB`;
  }
}

/** terapi against a reference figure: `+0.42 ms (×1.35)` for latencies, `×0.81 (81%)` for rates. */
export function versus(r: Row, against: "direct" | "floor" | "off" = "direct"): string {
  const reference = r[against];
  if (reference === null || reference === undefined || r.terapi === null || r.compare === "none") return against === "direct" ? (r.note ?? "") : "";
  const ratio = reference === 0 ? "" : `×${(r.terapi / reference).toFixed(2)}`;
  if (r.compare === "ratio") return `${ratio} (${((100 * r.terapi) / reference).toFixed(0)}%)`;
  const added = r.terapi - reference;
  const sign = added >= 0 ? "+" : "−";
  const abs = Math.abs(added);
  const addedText = r.unit === "ms" ? `${abs < 10 ? abs.toFixed(2) : abs.toFixed(1)} ms` : fmt(abs, r.unit);
  return `${sign}${addedText} (${ratio})`;
}

const signed = (v: number) => `${v >= 0 ? "+" : "−"}${Math.abs(v).toFixed(2)}`;

/** A paired difference: its median, the interquartile range and the range, then every pair's, in run order (ms). */
export function pairedText(p: Paired): string {
  return `${signed(p.median)} ms (IQR ${signed(p.q1)} … ${signed(p.q3)}, range ${signed(p.min)} … ${signed(p.max)}; each ${p.each.map(signed).join(" ")})`;
}

/** The reference columns' headings (`--aa` puts copies of terapi there). */
export type Columns = { floor: string; floorVs: string; off: string; offVs: string };
const COLUMNS: Columns = { floor: "bare workerd proxy", floorVs: "terapi vs bare", off: "terapi, usage off", offVs: "usage on vs off" };

export function renderTable(title: string, rows: Row[], skipped: string[], columns: Columns = COLUMNS): string {
  const withFloor = rows.some((r) => r.floor !== undefined && r.floor !== null);
  const withOff = rows.some((r) => r.off !== undefined && r.off !== null);
  const withPairs = rows.some((r) => r.pairs);
  const header = [
    "scenario",
    "metric",
    "direct",
    "terapi",
    "terapi vs direct",
    ...(withFloor ? [columns.floor, columns.floorVs] : []),
    ...(withOff ? [columns.off, columns.offVs] : []),
    "target",
    "",
    ...(withPairs ? ["the target's difference per process pair: median (spread; each pair)"] : []),
  ];
  const body = rows.map((r) => [
    r.scenario,
    r.metric,
    fmt(r.direct, r.unit),
    fmt(r.terapi, r.unit),
    versus(r),
    ...(withFloor ? [r.floor === undefined ? "" : fmt(r.floor, r.unit), versus(r, "floor")] : []),
    ...(withOff ? [r.off === undefined ? "" : fmt(r.off, r.unit), versus(r, "off")] : []),
    r.target?.text ?? "",
    r.target ? (r.target.pass ? "PASS" : "FAIL") : "",
    ...(withPairs ? [r.pairs ? pairedText(r.pairs) : ""] : []),
  ]);
  const offAt = withFloor ? 7 : 5;
  const numeric = new Set([2, 3, ...(withFloor ? [5] : []), ...(withOff ? [offAt] : [])]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  const out = [title, line(header), widths.map((w) => "─".repeat(w)).join("  ")];
  let last = "";
  for (let i = 0; i < body.length; i++) {
    const cells = [...body[i]];
    if (cells[0] === last) cells[0] = "";
    else last = cells[0];
    out.push(line(cells));
  }
  for (const s of skipped) out.push(`(skipped) ${s}`);
  return out.join("\n");
}
