// The store's functions live next to the ConnectionSecret type; both import paths are in use.
export {
  deleteConnectionSecret,
  loadConnectionSecret,
  reencryptConnectionSecrets,
  saveConnectionSecret,
  type ConnectionSecret,
  type ReencryptResult,
} from "./connection-secret";
