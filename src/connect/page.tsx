import { Layout } from "../ui/layout";

export type IntegrationChoice = { unique_key: string; display_name: string };

export type FormState = {
  token: string;
  integrations: IntegrationChoice[];
  selected?: string;
  organization_id?: string;
  project_id?: string;
  /** Why the last submission failed: shown next to the field it concerns. */
  error?: { field: "api_key" | "integration"; message: string };
};

/** The connect form. The API key field always comes back empty: the key is never echoed. */
export function ConnectForm(props: FormState & { nonce: string }) {
  const { error } = props;
  const keyError = error?.field === "api_key" ? error.message : undefined;
  const integrationError = error?.field === "integration" ? error.message : undefined;
  const selected = props.selected ?? (props.integrations.length === 1 ? props.integrations[0].unique_key : undefined);
  return (
    <Layout title={error ? "Error: connect your OpenAI account" : "Connect your OpenAI account"} nonce={props.nonce}>
      <h1>Connect your OpenAI account</h1>
      <p class="lede">Paste an OpenAI API key. It is checked with OpenAI, then stored encrypted; it is never shown again.</p>
      {error ? (
        <div class="banner bad" role="alert" id="form-error">
          <p>
            <strong>That didn't work.</strong> See the message under{" "}
            <a href={error.field === "api_key" ? "#api_key" : "#integration-error"}>{error.field === "api_key" ? "the API key" : "Integration"}</a>.
          </p>
        </div>
      ) : null}
      <form method="post" action="/connect" autocomplete="off" novalidate={false}>
        <input type="hidden" name="token" value={props.token} />
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

        <label for="organization_id">Organization ID (optional)</label>
        <input type="text" id="organization_id" name="organization_id" value={props.organization_id ?? ""} aria-describedby="organization_id-hint" />
        <p class="hint" id="organization_id-hint">
          Sent as <code>OpenAI-Organization</code>, e.g. <code>org-…</code>.
        </p>

        <label for="project_id">Project ID (optional)</label>
        <input type="text" id="project_id" name="project_id" value={props.project_id ?? ""} aria-describedby="project_id-hint" />
        <p class="hint" id="project_id-hint">
          Sent as <code>OpenAI-Project</code>, e.g. <code>proj_…</code>.
        </p>

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
