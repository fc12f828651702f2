import type { ApiKeySummary } from '../../orgs/api-keys.js';
import { html } from '../html.js';
import type { PageNotice, SignedIn } from './accounts-pages.js';
import { csrfField, formatTime, notice, renderPage } from './layout.js';
import { settingsNav } from './settings-page.js';

export interface ApiKeysPageModel {
  signedIn: SignedIn;
  keys: ApiKeySummary[];
  /** A key just created: its secret is on this one page, never again. */
  created?: { key: string; summary: ApiKeySummary } | undefined;
  notice?: PageNotice | undefined;
  /** What the create form held when it was refused. */
  form?: { name: string; scope: string; expiresOn: string } | undefined;
}

/** Settings → API keys: the organisation's keys (never their secrets), create one (shown once), revoke. */
export function renderApiKeysPage(model: ApiKeysPageModel): string {
  const { signedIn } = model;
  const form = model.form ?? { name: '', scope: 'standard', expiresOn: '' };
  const rows = model.keys.map(
    (key) => html`<tr id="api-key-${key.id}">
  <td>${key.name}<br><code class="muted">${key.prefix}…</code></td>
  <td>${key.scope}</td>
  <td><span class="badge key-${key.status}">${key.status}</span></td>
  <td>${key.createdBy}<br><span class="muted">${formatTime(key.createdAt)}</span></td>
  <td>${formatTime(key.lastUsedAt)}</td>
  <td>${key.expiresAt === null ? 'never' : formatTime(key.expiresAt)}</td>
  <td>${
    key.status === 'active'
      ? html`<form method="post" action="/dashboard/settings/api-keys/${key.id}/revoke" class="inline">
    ${csrfField(signedIn.csrfToken)}
    <button type="submit" class="danger" id="revoke-${key.id}">Revoke</button>
  </form>`
      : ''
  }</td>
</tr>`,
  );
  return renderPage(
    { title: 'Settings · API keys', signedIn, current: 'settings' },
    html`${model.notice && notice(html`<strong>${model.notice.text}</strong>${model.notice.detail && html`<br>${model.notice.detail}`}`, model.notice.kind, 'api-keys-notice')}
${
  model.created &&
  html`<div class="card" id="created-key">
  <h2>Your new API key</h2>
  <p>Copy it now: it is shown only this once. mailbridge keeps only a hash of it.</p>
  <p><code id="created-key-value">${model.created.key}</code></p>
  <p class="muted">Send it as <code>Authorization: Bearer …</code> to the host API (<code>/v1</code>).</p>
</div>`
}
<div class="card">
  <h1>Settings</h1>
  ${settingsNav('api-keys')}
  <p class="muted">Keys let your product call the host API for this organisation. Standard keys connect accounts, send and read events; admin keys can also manage keys. Revoking takes effect at once.</p>
  ${
    model.keys.length === 0
      ? html`<p id="no-api-keys">No API keys yet.</p>`
      : html`<table id="api-keys">
  <thead><tr><th>Name</th><th>Scope</th><th>Status</th><th>Created by</th><th>Last used</th><th>Expires</th><th></th></tr></thead>
  <tbody>${rows}</tbody>
</table>`
  }
  <h2>Create a key</h2>
  <form method="post" action="/dashboard/settings/api-keys" id="create-api-key">
    ${csrfField(signedIn.csrfToken)}
    <label for="api-key-name">Name</label>
    <input id="api-key-name" name="name" maxlength="200" required value="${form.name}">
    <fieldset>
      <legend>Scope</legend>
      <label class="choice"><input type="radio" name="scope" value="standard" id="scope-standard"${form.scope !== 'admin' ? html` checked` : ''}> Standard</label>
      <label class="choice"><input type="radio" name="scope" value="admin" id="scope-admin"${form.scope === 'admin' ? html` checked` : ''}> Admin (can also manage API keys)</label>
    </fieldset>
    <label for="api-key-expires">Expires on (optional, end of that day UTC)</label>
    <input id="api-key-expires" name="expiresOn" type="date" value="${form.expiresOn}">
    <div class="actions"><button type="submit" id="create-api-key-submit">Create key</button></div>
  </form>
</div>`,
  );
}
