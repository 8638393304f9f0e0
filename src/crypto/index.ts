export { keyRing, parseKeyRing, KeyRingError, type KeyRing } from "./key-ring";
export { seal, open, parseSealed, SecretDecryptError, type SealedValue } from "./secret-box";
