// The printed table and the targets next to each figure.
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
  }
}

export function versus(r: Row): string {
  if (r.direct === null || r.terapi === null || r.compare === "none") return r.note ?? "";
  const ratio = r.direct === 0 ? "" : `×${(r.terapi / r.direct).toFixed(2)}`;
  if (r.compare === "ratio") return `${ratio} (${((100 * r.terapi) / r.direct).toFixed(0)}%)`;
  const added = r.terapi - r.direct;
  const sign = added >= 0 ? "+" : "−";
  const abs = Math.abs(added);
  const addedText = r.unit === "ms" ? `${abs < 10 ? abs.toFixed(2) : abs.toFixed(1)} ms` : fmt(abs, r.unit);
  return `${sign}${addedText} (${ratio})`;
}

export function renderTable(title: string, rows: Row[], skipped: string[]): string {
  const header = ["scenario", "metric", "direct", "terapi", "terapi vs direct", "target", ""];
  const body = rows.map((r) => [
    r.scenario,
    r.metric,
    fmt(r.direct, r.unit),
    fmt(r.terapi, r.unit),
    versus(r),
    r.target?.text ?? "",
    r.target ? (r.target.pass ? "PASS" : "FAIL") : "",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 && i <= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd();
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
