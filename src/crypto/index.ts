export { keyRing, parseKeyRing, KeyRingError, type KeyRing, type MasterKey } from "./key-ring";
export { seal, open, parseSealed, SecretDecryptError, type SealedValue } from "./secret-box";
