import { ApiError } from "../errors";
import { listProviders, providerBaseUrl } from "../providers/catalog";
import type { ProviderDefinition } from "../providers/types";
import { authHeadersFor } from "../proxy/headers";
import type { ConnectionSecret } from "../store/connection-secret";
import { maskSecret } from "./mask";

const CHECK_TIMEOUT_MS = 15_000;

/**
 * The definition whose credential check fits this key: the integration's own
 * provider if it takes the key, else a sibling on the same upstream that does
 * (an admin key on an `openai` integration is checked as `openai-admin`).
 */
export function verifierFor(provider: ProviderDefinition, apiKey: string): ProviderDefinition | undefined {
  if (!provider.acceptsKey || provider.acceptsKey(apiKey)) return provider;
  return listProviders().find((p) => p.baseUrl === provider.baseUrl && p.baseUrlVar === provider.baseUrlVar && p.acceptsKey?.(apiKey) === true);
}

/** The provider's reason from an error body (`{"error":{"message"}}`), without echoing anything else. */
function providerReason(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null || !("error" in body)) return undefined;
  const error = body.error;
  if (typeof error === "string") return error;
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") return error.message;
  return undefined;
}

/** A key the provider refused; `reason` is the provider's own message. */
export class CredentialRejected extends ApiError<"connection_test_failed"> {
  constructor(
    readonly providerStatus: number,
    readonly reason: string,
  ) {
    super(400, "connection_test_failed", `The provider rejected the credentials: ${reason}`, { provider_status: providerStatus });
  }
}

/**
 * Verifies a key against the provider before anything is stored: a valid status
 * passes, a 403 whose message says "missing scopes" (a restricted key) passes,
 * anything else is a `connection_test_failed` with the provider's reason.
 */
export async function verifyCredentials(env: Env, provider: ProviderDefinition, secret: ConnectionSecret): Promise<void> {
  const verifier = verifierFor(provider, secret.credentials.apiKey);
  if (!verifier) throw new CredentialRejected(0, `this key is not accepted by provider '${provider.name}'`);
  const check = verifier.credentialCheck;
  let res: Response;
  try {
    res = await fetch(`${providerBaseUrl(verifier, env)}${check.path}`, {
      method: check.method,
      headers: { accept: "application/json", ...authHeadersFor(verifier, secret) },
      signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
    });
  } catch (err) {
    if (err instanceof Error && err.name === "TimeoutError")
      throw new ApiError(504, "upstream_timeout", `${verifier.displayName} did not answer the credential check in time`);
    throw new ApiError(502, "upstream_unreachable", `Could not reach ${verifier.displayName} to check the credentials`);
  }
  if (check.validStatuses.includes(res.status)) {
    await res.body?.cancel();
    return;
  }
  const body: unknown = await res.json().catch(() => undefined);
  // Never echo the key, even if a provider puts it in its message.
  const reason = providerReason(body)?.replaceAll(secret.credentials.apiKey, maskSecret(secret.credentials.apiKey));
  if (res.status === 403 && reason !== undefined && check.validForbiddenMessage?.test(reason)) return;
  throw new CredentialRejected(res.status, reason ?? `HTTP ${res.status} from ${verifier.displayName}`);
}
