import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { keyRing, open, parseKeyRing, parseSealed, seal, KeyRingError, SecretDecryptError } from "../../src/crypto";
import {
  deleteConnectionSecret,
  loadConnectionSecret,
  reencryptConnectionSecrets,
  saveConnectionSecret,
  secretKvKey,
  type ConnectionSecret,
} from "../../src/store/connection-secret";
import { newMasterKey, uid } from "../harness/management";

const secretFor = (pck: string, id: string, apiKey = "sk-proj-PLAINTEXT-abcdef123456"): ConnectionSecret => ({
  providerConfigKey: pck,
  connectionId: id,
  provider: "openai",
  credentials: { type: "API_KEY", apiKey },
  config: { organization_id: "org-1", webhook_secret: "whsec_PLAINWEBHOOK" },
});

describe("key ring", () => {
  it("parses kid:base64 entries; the first encrypts, all decrypt", async () => {
    const ring = await parseKeyRing(`a:${newMasterKey()}, b:${newMasterKey()}`);
    expect(ring.current.kid).toBe("a");
    expect([...ring.byKid.keys()]).toEqual(["a", "b"]);
  });

  it("gives a bare base64 entry the first 8 hex chars of its SHA-256 as kid", async () => {
    const raw = crypto.getRandomValues(new Uint8Array(32));
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw));
    const expected = Array.from(digest.slice(0, 4), (b) => b.toString(16).padStart(2, "0")).join("");
    const ring = await parseKeyRing(btoa(String.fromCharCode(...raw)));
    expect(ring.current.kid).toBe(expected);
  });

  it.each([
    ["missing", ""],
    ["not base64", "k1:not*base64!"],
    ["wrong length", `k1:${btoa("short key")}`],
    ["bad kid", `bad kid:${newMasterKey()}`],
    ["duplicate kid", `k1:${newMasterKey()},k1:${newMasterKey()}`],
  ])("refuses a %s key ring with a clear error that never shows key material", async (_label, value) => {
    const err = await parseKeyRing(value).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyRingError);
    const message = (err as KeyRingError).message;
    expect(message).toMatch(/^TERAPI_ENCRYPTION_KEY /);
    for (const part of value.split(/[,:]/).filter((p) => p.length > 8)) expect(message).not.toContain(part);
  });

  it("imports the keys once per key-ring string", () => {
    expect(keyRing(env)).toBe(keyRing(env));
    expect(keyRing({ TERAPI_ENCRYPTION_KEY: `x:${newMasterKey()}` })).not.toBe(keyRing(env));
  });
});

describe("sealed values", () => {
  it("round-trips, with a fresh IV per write", async () => {
    const ring = await keyRing(env);
    const a = await seal(ring, "hello", "aad");
    const b = await seal(ring, "hello", "aad");
    expect(a.iv).not.toBe(b.iv);
    expect(a.ct).not.toBe(b.ct);
    expect(a).toMatchObject({ v: 1, kid: "k1" });
    expect(await open(ring, a, "aad")).toBe("hello");
  });

  it("fails on other additional data, a tampered ciphertext and an unknown kid", async () => {
    const ring = await keyRing(env);
    const sealed = await seal(ring, "hello", "aad");
    await expect(open(ring, sealed, "other")).rejects.toBeInstanceOf(SecretDecryptError);
    const flipped = sealed.ct.startsWith("A") ? `B${sealed.ct.slice(1)}` : `A${sealed.ct.slice(1)}`;
    await expect(open(ring, { ...sealed, ct: flipped }, "aad")).rejects.toBeInstanceOf(SecretDecryptError);
    await expect(open(ring, { ...sealed, kid: "gone" }, "aad")).rejects.toThrow(/key id 'gone'/);
  });
});

describe("connection secret store", () => {
  it("stores only ciphertext in KV and loads it back", async () => {
    const pck = `p-${uid()}`;
    const secret = secretFor(pck, "c1");
    await saveConnectionSecret(env, secret);
    const raw = await env.SECRETS.get(secretKvKey(pck, "c1"));
    expect(raw).not.toBeNull();
    expect(raw).not.toContain("PLAINTEXT");
    expect(raw).not.toContain("PLAINWEBHOOK");
    expect(raw).not.toContain("org-1");
    expect(Object.keys(JSON.parse(raw as string)).sort()).toEqual(["ct", "iv", "kid", "v"]);
    expect(await loadConnectionSecret(env, pck, "c1")).toEqual(secret);
    await deleteConnectionSecret(env, pck, "c1");
    expect(await loadConnectionSecret(env, pck, "c1")).toBeNull();
  });

  it("a value copied to another connection's key fails to decrypt", async () => {
    const pck = `p-${uid()}`;
    await saveConnectionSecret(env, secretFor(pck, "victim"));
    await env.SECRETS.put(secretKvKey(pck, "attacker"), (await env.SECRETS.get(secretKvKey(pck, "victim"))) as string);
    await expect(loadConnectionSecret(env, pck, "attacker")).rejects.toBeInstanceOf(SecretDecryptError);
    await deleteConnectionSecret(env, pck, "attacker");
  });

  it("rotation: old values stay readable, the pass moves them to the new kid, then the old key can go", async () => {
    const pck = `p-${uid()}`;
    const k2 = `k2:${newMasterKey()}`;
    const rotated = { ...env, TERAPI_ENCRYPTION_KEY: `${k2},${env.TERAPI_ENCRYPTION_KEY}` };
    const secrets = [secretFor(pck, "a", "sk-a-0000000000000000"), secretFor(pck, "b", "sk-b-0000000000000000")];
    for (const s of secrets) await saveConnectionSecret(env, s);

    for (const s of secrets) expect(await loadConnectionSecret(rotated, pck, s.connectionId)).toEqual(s);
    const first = await reencryptConnectionSecrets(rotated);
    expect(first.reencrypted).toBeGreaterThanOrEqual(2);
    expect(first.failed).toBe(0);
    for (const s of secrets) expect(parseSealed((await env.SECRETS.get(secretKvKey(pck, s.connectionId))) as string).kid).toBe("k2");
    expect((await reencryptConnectionSecrets(rotated)).reencrypted).toBe(0);

    const onlyNew = { ...env, TERAPI_ENCRYPTION_KEY: k2 };
    for (const s of secrets) expect(await loadConnectionSecret(onlyNew, pck, s.connectionId)).toEqual(s);
    // Put the namespace back on k1 for the other tests of this file.
    await reencryptConnectionSecrets({ ...env, TERAPI_ENCRYPTION_KEY: `${env.TERAPI_ENCRYPTION_KEY},${k2}` });
  });
});
