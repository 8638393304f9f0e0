import { ApiError } from "../errors";
import { base64ToBytes, bytesToBase64 } from "./base64";
import type { KeyRing } from "./key-ring";

/** What is stored: the key id that encrypted it, a fresh IV, and the AES-GCM ciphertext (with tag). */
export type SealedValue = { v: 1; kid: string; iv: string; ct: string };

const IV_BYTES = 12;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A stored value cannot be opened: unknown key id, tampered, or bound to another connection. */
export class SecretDecryptError extends ApiError<"secret_unreadable"> {
  constructor(message: string) {
    super(500, "secret_unreadable", message);
    this.name = "SecretDecryptError";
  }
}

/** Encrypts with the ring's current key; `aad` binds the value to where it is stored. */
export async function seal(ring: KeyRing, plaintext: string, aad: string): Promise<SealedValue> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: encoder.encode(aad) }, ring.current.key, encoder.encode(plaintext));
  return { v: 1, kid: ring.current.kid, iv: bytesToBase64(iv), ct: bytesToBase64(new Uint8Array(ct)) };
}

/** Parses a stored string as a SealedValue (shape only; nothing is decrypted). */
export function parseSealed(stored: string): SealedValue {
  let value: unknown;
  try {
    value = JSON.parse(stored);
  } catch {
    throw new SecretDecryptError("Stored secret is not valid JSON");
  }
  if (
    typeof value !== "object" ||
    value === null ||
    !("v" in value) ||
    value.v !== 1 ||
    !("kid" in value) ||
    typeof value.kid !== "string" ||
    !("iv" in value) ||
    typeof value.iv !== "string" ||
    !("ct" in value) ||
    typeof value.ct !== "string"
  )
    throw new SecretDecryptError("Stored secret has an unknown format");
  return { v: 1, kid: value.kid, iv: value.iv, ct: value.ct };
}

/** Decrypts with the key the value names; fails if the key is gone or the aad differs. */
export async function open(ring: KeyRing, sealed: SealedValue, aad: string): Promise<string> {
  const master = ring.byKid.get(sealed.kid);
  if (!master) throw new SecretDecryptError(`Stored secret was encrypted with key id '${sealed.kid}', which is not in TERAPI_ENCRYPTION_KEY`);
  try {
    const pt = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: base64ToBytes(sealed.iv), additionalData: encoder.encode(aad) },
      master.key,
      base64ToBytes(sealed.ct),
    );
    return decoder.decode(pt);
  } catch {
    throw new SecretDecryptError("Stored secret failed to decrypt (tampered, or stored under another connection)");
  }
}
