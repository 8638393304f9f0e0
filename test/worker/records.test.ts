import { describe, expect, it } from "vitest";
import { createTenant, sim, simKey } from "../harness/connections";
import { allRecords, type Rec, records, settleAll, syncNow } from "../harness/sync";

/** 30 files synced, then 3 updated and 2 removed and synced again. */
async function changedTenant() {
  const key = await simKey();
  await sim("POST", "/__sim/seed", { key, files: 30 });
  const t = await createTenant(key);
  await settleAll(t);
  const between = new Date(Date.now() + 5).toISOString();
  await new Promise((r) => setTimeout(r, 10));
  const changes = await sim<{ updated: string[]; removed: string[] }>("POST", "/__sim/mutate", { key, model: "files", update: 3, remove: 2 });
  await syncNow(t, "files");
  return { t, key, between, ...changes };
}

const actions = (recs: Rec[]) => recs.map((r) => r._nango_metadata.last_action).sort();

describe("GET /records", () => {
  it("filters by any combination of added, updated, deleted (deleted only when asked) and by modified_after", async () => {
    const { t, between, updated, removed } = await changedTenant();
    const count = (list: Rec[], a: string) => list.filter((r) => r._nango_metadata.last_action === a).length;
    const def = await allRecords(t, "files");
    expect([def.length, count(def, "ADDED"), count(def, "UPDATED")]).toEqual([28, 25, 3]);
    expect(actions(await allRecords(t, "files", "&filter=deleted"))).toEqual(["DELETED", "DELETED"]);
    expect((await allRecords(t, "files", "&filter=added")).length).toBe(25);
    expect(actions(await allRecords(t, "files", "&filter=updated"))).toEqual(["UPDATED", "UPDATED", "UPDATED"]);
    expect((await allRecords(t, "files", "&filter=added,deleted")).length).toBe(27);
    expect((await allRecords(t, "files", "&filter=UPDATED,deleted")).length).toBe(5);
    expect((await allRecords(t, "files", "&filter=added,updated,deleted")).length).toBe(30);
    const since = await allRecords(t, "files", `&filter=added,updated,deleted&modified_after=${encodeURIComponent(between)}`);
    expect(since.map((r) => r.id).sort()).toEqual([...updated, ...removed].sort());
    expect((await allRecords(t, "files", `&modified_after=${encodeURIComponent(between)}`)).length).toBe(3);
    const deleted = (await allRecords(t, "files", "&filter=deleted"))[0];
    expect(deleted._nango_metadata.deleted_at).toBe(deleted._nango_metadata.last_modified_at);
  });

  it("selects by ids, comma separated or repeated", async () => {
    const { t, updated } = await changedTenant();
    const comma = await records(t, `model=files&ids=${updated.slice(0, 2).join(",")}`);
    expect(comma.body.records.map((r: Rec) => r.id).sort()).toEqual(updated.slice(0, 2).sort());
    const repeated = await records(t, `model=files&${updated.map((id) => `ids=${id}`).join("&")}`);
    expect(repeated.body.records.map((r: Rec) => r.id).sort()).toEqual([...updated].sort());
  });

  it("pages with a sync writing in between: nothing skipped, unchanged records never repeated", async () => {
    const key = await simKey();
    await sim("POST", "/__sim/seed", { key, files: 40 });
    const t = await createTenant(key);
    await settleAll(t);
    const seen: Rec[] = [];
    let cursor: string | null = null;
    let round = 0;
    let changed: { updated: string[]; removed: string[] } = { updated: [], removed: [] };
    do {
      const res = await records(t, `model=files&limit=7&filter=added,updated,deleted${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.records);
      cursor = res.body.next_cursor;
      if (++round === 2) {
        // 14 read: change some already read and some not yet read, remove some of each, sync.
        const ids = (await allRecords(t, "files")).map((r) => r.id);
        const read = new Set(seen.map((r) => r.id));
        const readIds = ids.filter((id) => read.has(id));
        const unread = ids.filter((id) => !read.has(id));
        changed = await sim("POST", "/__sim/mutate", { key, model: "files", update: [readIds[0], readIds[1], unread[0]], remove: [readIds[2], unread[1]] });
        await syncNow(t, "files");
      }
    } while (cursor);
    const touched = new Set([...changed.updated, ...changed.removed]);
    const counts = new Map<string, number>();
    for (const r of seen) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
    expect(counts.size).toBe(40);
    for (const [id, n] of counts) expect(n, id).toBe(touched.has(id) ? (n === 2 ? 2 : 1) : 1);
    // Read before the change and changed: seen again, as changed. Not read yet: seen once, changed.
    const last = new Map(seen.map((r) => [r.id, r._nango_metadata.last_action]));
    for (const id of changed.updated) expect(last.get(id)).toBe("UPDATED");
    for (const id of changed.removed) expect(last.get(id)).toBe("DELETED");
    const repeats = [...counts]
      .filter(([, n]) => n > 1)
      .map(([id]) => id)
      .sort();
    expect(repeats).toEqual([changed.updated[0], changed.updated[1], changed.removed[0]].sort());
  });

  it("answers bad input with clear JSON errors", async () => {
    const t = await createTenant(await simKey());
    const bad = async (query: string, status: number, code: string, headers = t.headers) => {
      const res = await records({ ...t, headers }, query);
      expect(res.status, query).toBe(status);
      expect(res.body.error.code, query).toBe(code);
    };
    await bad("model=nope", 400, "unknown_model");
    await bad("", 400, "invalid_request");
    await bad("model=files&cursor=not-a-cursor", 400, "invalid_cursor");
    await bad("model=files&limit=0", 400, "invalid_request");
    await bad("model=files&limit=10001", 400, "invalid_request");
    await bad("model=files&limit=abc", 400, "invalid_request");
    await bad("model=files&filter=added,gone", 400, "invalid_filter");
    await bad("model=files&modified_after=yesterday", 400, "invalid_modified_after");
    await bad("model=files", 404, "unknown_connection", { ...t.headers, "Connection-Id": "no-such-tenant" });
    await bad("model=files", 400, "missing_connection_headers", {});
    const ok = await records(t, "model=files&limit=10000");
    expect(ok.status).toBe(200);
  });
});
