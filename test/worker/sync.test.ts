import { describe, expect, it } from "vitest";
import { createTenant, sim, simKey } from "../harness/connections";
import { allRecords, settle, syncNow } from "../harness/sync";

describe("sync runs", () => {
  it("first run stores every record as ADDED; the next reports exactly the changed and removed ones", async () => {
    const key = await simKey();
    await sim("POST", "/__sim/seed", { key, files: 30 });
    const t = await createTenant(key);
    const first = await settle(t, "files");
    expect(first.status).toBe("SUCCESS");
    expect(first.latestResult.files).toEqual({ added: 30, updated: 0, deleted: 0 });
    const before = await allRecords(t, "files");
    expect(before).toHaveLength(30);
    expect(new Set(before.map((r) => r._nango_metadata.last_action))).toEqual(new Set(["ADDED"]));

    const { updated, removed } = await sim<{ updated: string[]; removed: string[] }>("POST", "/__sim/mutate", { key, model: "files", update: 3, remove: 2 });
    const second = await syncNow(t, "files");
    expect(second.latestResult.files).toEqual({ added: 0, updated: 3, deleted: 2 });
    expect(second.latestRun?.rows_written).toBe(5);

    const after = await allRecords(t, "files", "&filter=added,updated,deleted");
    const byId = new Map(after.map((r) => [r.id, r]));
    for (const id of updated) expect(byId.get(id)?._nango_metadata.last_action).toBe("UPDATED");
    for (const id of removed) {
      expect(byId.get(id)?._nango_metadata.last_action).toBe("DELETED");
      expect(byId.get(id)?._nango_metadata.deleted_at).not.toBeNull();
    }
    const untouched = before.filter((r) => !updated.includes(r.id) && !removed.includes(r.id));
    expect(untouched).toHaveLength(25);
    for (const r of untouched) expect(byId.get(r.id)?._nango_metadata).toEqual(r._nango_metadata);
  });
});
