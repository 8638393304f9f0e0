import type { Registry } from "../durable-objects/registry";
import { registryObject } from "./stubs";

type Methods = Pick<
  Registry,
  | "createIntegration"
  | "listIntegrations"
  | "getIntegration"
  | "updateIntegration"
  | "integrationConnectionIds"
  | "deleteIntegration"
  | "reserveConnection"
  | "releaseConnection"
  | "connectionReservation"
  | "insertConnection"
  | "getConnection"
  | "listConnections"
  | "updateConnection"
  | "deleteConnection"
  | "setMetadata"
  | "createConnectSession"
  | "openConnectSession"
  | "readConnectSession"
  | "claimConnectSession"
  | "releaseConnectSession"
  | "completeConnectSession"
  | "startDashboardSession"
  | "dashboardSessionActive"
  | "endDashboardSession"
>;

/** The registry's methods as they are called over RPC: same arguments, results awaited. */
type RegistryClient = { [K in keyof Methods]: (...args: Parameters<Methods[K]>) => Promise<ReturnType<Methods[K]>> };

/**
 * Typed access to the registry. workers-types' RPC mapping turns arbitrary
 * JSON (connection metadata) into `never`; structured clone carries it fine,
 * so the stub is typed by the class's own signatures instead.
 */
export function registryClient(env: Env): RegistryClient {
  return registryObject(env) as unknown as RegistryClient;
}
