import { bytesToHex } from "./hex";

/** `bytes` random bytes as lowercase hex: unguessable, URL-safe ids. */
export const randomHex = (bytes: number) => bytesToHex(crypto.getRandomValues(new Uint8Array(bytes)));
