import type { ConnectionRecord } from "./index-store";
import type { ConnectionSecret } from "../store/connection-secret";

type ConnectionConfigView = { organization_id?: string; project_id?: string; webhook_secret?: string };

/** The connection as the API returns it (Nango's shape); secrets masked unless the stored secret is passed to reveal. */
type ConnectionView = {
  id: string;
  connection_id: string;
  provider_config_key: string;
  provider: string;
  created_at: string;
  updated_at: string;
  /** Nango's list field (its single-connection read has created_at). */
  created: string;
  /** Nango's: the connection's active errors; terapi reports a rejected key by the `auth` webhook instead. */
  errors: { type: string; log_id: string }[];
  /** Nango's: when the credentials were last read; terapi does not track reads. */
  last_fetched_at: string | null;
  credentials: { type: "API_KEY"; apiKey: string; masked: boolean };
  connection_config: ConnectionConfigView;
  metadata: ConnectionRecord["metadata"];
  end_user: ConnectionRecord["end_user"];
  tags: Record<string, string>;
};

export function presentConnection(record: ConnectionRecord, revealed?: ConnectionSecret): ConnectionView {
  const cfg = record.connection_config;
  const webhookSecret = revealed ? revealed.config.webhook_secret : cfg.has_webhook_secret ? (cfg.webhook_secret_hint ?? "…") : undefined;
  return {
    id: record.id,
    connection_id: record.connection_id,
    provider_config_key: record.provider_config_key,
    provider: record.provider,
    created_at: record.created_at,
    updated_at: record.updated_at,
    created: record.created_at,
    errors: [],
    last_fetched_at: null,
    credentials: { type: "API_KEY", apiKey: revealed ? revealed.credentials.apiKey : record.key_hint, masked: !revealed },
    connection_config: {
      ...(cfg.organization_id === undefined ? {} : { organization_id: cfg.organization_id }),
      ...(cfg.project_id === undefined ? {} : { project_id: cfg.project_id }),
      ...(webhookSecret === undefined ? {} : { webhook_secret: webhookSecret }),
    },
    metadata: record.metadata,
    end_user: record.end_user,
    tags: record.tags,
  };
}
