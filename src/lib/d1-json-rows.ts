/**
 * Many rows in one D1 statement: `INSERT … SELECT … FROM json_each(?)`, the
 * rows as one JSON array of objects bound to one parameter (a missing key is
 * NULL), so a statement is not bound by D1's 100 parameters per statement.
 * Each statement carries at most `ROWS_PER_STATEMENT` rows (and ~512 KB of
 * JSON, far under D1's 2 MB per value); `rows` says how many, so a writer can
 * cut its work into short transactions (src/ops-index/write.ts).
 */
const ROWS_PER_STATEMENT = 250;
const BYTES_PER_STATEMENT = 512 * 1024;

export type RowsStatement = { statement: D1PreparedStatement; rows: number };

/**
 * `sql` has one `?`: the JSON array (`json_each(?)`). `weight`: the rows of work one input row costs
 * (a running total recomputed from a month of day rows is more than one insert): a statement takes
 * `ROWS_PER_STATEMENT / weight` of them and counts as that many rows.
 */
export function jsonRowStatements(db: D1Database, sql: string, rows: object[], weight = 1): RowsStatement[] {
  const out: RowsStatement[] = [];
  let chunk: string[] = [];
  let bytes = 0;
  const close = () => {
    if (chunk.length) out.push({ statement: db.prepare(sql).bind(`[${chunk.join(",")}]`), rows: chunk.length * weight });
    chunk = [];
    bytes = 0;
  };
  for (const row of rows) {
    const json = JSON.stringify(row);
    if (chunk.length * weight >= ROWS_PER_STATEMENT || (chunk.length && bytes + json.length > BYTES_PER_STATEMENT)) close();
    chunk.push(json);
    bytes += json.length + 1;
  }
  close();
  return out;
}

/** `json_extract(value, '$.c')` for each column, in order: the SELECT list of a `json_each` insert. */
export const jsonColumns = (columns: readonly string[]): string => columns.map((c) => `json_extract(value, '$.${c}')`).join(", ");
