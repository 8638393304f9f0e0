import { Layout } from "../ui/layout";

export type IntegrationChoice = { unique_key: string; display_name: string };

export type FormField = "api_key" | "integration" | "organization_id" | "project_id";
const FIELD_LABELS: Record<FormField, string> = {
  api_key: "the API key",
  integration: "Integration",
  organization_id: "Organization ID",
  project_id: "Project ID",
};

/** An optional text field with its hint and, after a failed submission, its error. */
function OptionalField(props: { name: "organization_id" | "project_id"; label: string; value?: string; error?: string; children: unknown }) {
  const { name, error } = props;
  return (
    <>
      <label for={name}>{props.label}</label>
      <input
        type="text"
        id={name}
        name={name}
        value={props.value ?? ""}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={error ? `${name}-error ${name}-hint` : `${name}-hint`}
      />
      <p class="hint" id={`${name}-hint`}>
        {props.children}
      </p>
      {error ? (
        <p class="error" id={`${name}-error`}>
          {error}
        </p>
      ) : null}
    </>
  );
}

export type FormState = {
  integrations: IntegrationChoice[];
  selected?: string;
  organization_id?: string;
  project_id?: string;
  /** Why the last submission failed: shown next to the field it concerns. */
  error?: { field: FormField; message: string };
};

/** The connect form. The API key field always comes back empty: the key is never echoed. */
export function ConnectForm(props: FormState & { nonce: string }) {
  const { error } = props;
  const keyError = error?.field === "api_key" ? error.message : undefined;
  const integrationError = error?.field === "integration" ? error.message : undefined;
  const selected = props.selected ?? (props.integrations.length === 1 ? props.integrations[0]?.unique_key : undefined);
  return (
    <Layout title={error ? "Error: connect your OpenAI account" : "Connect your OpenAI account"} nonce={props.nonce}>
      <h1>Connect your OpenAI account</h1>
      <p class="lede">Paste an OpenAI API key. It is checked with OpenAI, then stored encrypted; it is never shown again.</p>
      {error ? (
        <div class="banner bad" role="alert" id="form-error">
          <p>
            <strong>That didn't work.</strong> See the message under{" "}
            <a href={error.field === "integration" ? "#integration-error" : `#${error.field}`}>{FIELD_LABELS[error.field]}</a>.
          </p>
        </div>
      ) : null}
      <form method="post" action="/connect" autocomplete="off" novalidate={false}>
        <fieldset aria-describedby={integrationError ? "integration-error" : undefined}>
          <legend>Integration</legend>
          {props.integrations.map((i) => (
            <label>
              <input type="radio" name="integration" value={i.unique_key} checked={i.unique_key === selected} required />
              {i.display_name}
            </label>
          ))}
          {integrationError ? (
            <p class="error" id="integration-error">
              {integrationError}
            </p>
          ) : null}
        </fieldset>

        <label for="api_key">OpenAI API key</label>
        <input
          type="password"
          id="api_key"
          name="api_key"
          required
          autocomplete="off"
          spellcheck={false}
          autofocus={keyError !== undefined}
          aria-invalid={keyError ? "true" : undefined}
          aria-describedby={keyError ? "api_key-error api_key-hint" : "api_key-hint"}
        />
        <p class="hint" id="api_key-hint">
          Starts with <code>sk-</code>. Create one at platform.openai.com → API keys.
        </p>
        {keyError ? (
          <p class="error" id="api_key-error">
            {keyError}
          </p>
        ) : null}

        <OptionalField
          name="organization_id"
          label="Organization ID (optional)"
          value={props.organization_id}
          error={error?.field === "organization_id" ? error.message : undefined}
        >
          Sent as <code>OpenAI-Organization</code>, e.g. <code>org-…</code>.
        </OptionalField>

        <OptionalField
          name="project_id"
          label="Project ID (optional)"
          value={props.project_id}
          error={error?.field === "project_id" ? error.message : undefined}
        >
          Sent as <code>OpenAI-Project</code>, e.g. <code>proj_…</code>.
        </OptionalField>

        <button type="submit">Verify and connect</button>
      </form>
    </Layout>
  );
}

export function ConnectedPage(props: { nonce: string; integration: string }) {
  return (
    <Layout title="Connected" nonce={props.nonce}>
      <div class="banner good" role="status">
        <h1>Connected</h1>
        <p>
          Your OpenAI key was verified and saved for <strong>{props.integration}</strong>.
        </p>
      </div>
      <p>You can close this window now.</p>
    </Layout>
  );
}

export function ConnectErrorPage(props: { nonce: string; title: string; message: string }) {
  return (
    <Layout title={props.title} nonce={props.nonce}>
      <h1>{props.title}</h1>
      <div class="banner bad" role="alert">
        <p>{props.message}</p>
      </div>
      <p class="muted">Ask the app that sent you here for a new link.</p>
    </Layout>
  );
}
