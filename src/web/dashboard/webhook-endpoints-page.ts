import { EVENT_TYPES } from '../../events/event-recorder.js';
import type { WebhookDeliveryView } from '../../webhooks/webhook-deliveries.js';
import type { WebhookEndpointView } from '../../webhooks/webhook-endpoints.js';
import { html } from '../html.js';
import type { PageNotice, SignedIn } from './accounts-pages.js';
import { csrfField, formatTime, notice, renderPage } from './layout.js';
import { settingsNav } from './settings-page.js';

export interface WebhookEndpointsPageModel {
  signedIn: SignedIn;
  endpoints: WebhookEndpointView[];
  /** The latest deliveries of the organisation, newest first. */
  deliveries: WebhookDeliveryView[];
  /** A secret just made (endpoint added or secret rotated): on this one page, never again. */
  shownSecret?: { endpoint: WebhookEndpointView; secret: string; rotated: boolean } | undefined;
  notice?: PageNotice | undefined;
  /** What the add form held when it was refused. */
  form?: { url: string; eventTypes: string[] } | undefined;
}

/**
 * Settings → Webhooks: the organisation's endpoints (never their secrets), add one (its secret shown once), turn on
 * or off, rotate the secret (the previous one keeps signing for a day), delete; and the delivery log with retry.
 */
export function renderWebhookEndpointsPage(model: WebhookEndpointsPageModel): string {
  const { signedIn } = model;
  const form = model.form ?? { url: '', eventTypes: [] };
  const action = (endpoint: WebhookEndpointView, path: string, label: string, id: string, danger = false) =>
    html`<form method="post" action="/dashboard/settings/webhooks/${endpoint.id}/${path}" class="inline">
    ${csrfField(signedIn.csrfToken)}
    <button type="submit"${danger ? html` class="danger"` : ''} id="${id}-${endpoint.id}">${label}</button>
  </form>`;
  const rows = model.endpoints.map(
    (endpoint) => html`<tr id="webhook-endpoint-${endpoint.id}">
  <td><code>${endpoint.url}</code><br><span class="muted">${endpoint.id}</span></td>
  <td>${endpoint.eventTypes === null ? 'every event' : endpoint.eventTypes.join(', ')}</td>
  <td><span class="badge">${endpoint.enabled ? 'enabled' : 'disabled'}</span></td>
  <td>${endpoint.previousSecretExpiresAt === null ? '—' : html`previous secret signs too until ${formatTime(endpoint.previousSecretExpiresAt)}`}</td>
  <td>${action(endpoint, endpoint.enabled ? 'disable' : 'enable', endpoint.enabled ? 'Disable' : 'Enable', 'toggle')}
  ${action(endpoint, 'rotate', 'Rotate secret', 'rotate')}
  ${action(endpoint, 'delete', 'Delete', 'delete', true)}</td>
</tr>`,
  );
  const deliveryRows = model.deliveries.map(
    (delivery) => html`<tr id="webhook-delivery-${delivery.id}">
  <td>${delivery.eventType}<br><span class="muted">${delivery.eventId}</span></td>
  <td><code>${delivery.url}</code></td>
  <td><span class="badge">${delivery.status}</span></td>
  <td>${delivery.attempts}</td>
  <td>${delivery.lastError ?? '—'}</td>
  <td>${formatTime(delivery.createdAt)}</td>
  <td>${
    delivery.status === 'pending'
      ? ''
      : html`<form method="post" action="/dashboard/settings/webhooks/deliveries/${delivery.id}/retry" class="inline">
    ${csrfField(signedIn.csrfToken)}
    <button type="submit" id="retry-${delivery.id}">Send again</button>
  </form>`
  }</td>
</tr>`,
  );
  const shown = model.shownSecret;
  return renderPage(
    { title: 'Settings · Webhooks', signedIn, current: 'settings' },
    html`${model.notice && notice(html`<strong>${model.notice.text}</strong>${model.notice.detail && html`<br>${model.notice.detail}`}`, model.notice.kind, 'webhooks-notice')}
${
  shown &&
  html`<div class="card" id="shown-secret">
  <h2>${shown.rotated ? 'The new signing secret' : 'Your webhook endpoint’s signing secret'}</h2>
  <p>Copy it now: it is shown only this once. Verify <code>Mailbridge-Signature</code> with it.${shown.rotated ? ' The previous secret keeps signing beside it for a day, so your receiver can switch without losing a delivery.' : ''}</p>
  <p><code id="shown-secret-value">${shown.secret}</code></p>
  <p class="muted">For <code>${shown.endpoint.url}</code></p>
</div>`
}
<div class="card">
  <h1>Settings</h1>
  ${settingsNav('webhooks')}
  <p class="muted">mailbridge POSTs your organisation’s events, signed, to these URLs (see the README, Webhooks). Each endpoint has its own secret and chooses its event types.</p>
  ${
    model.endpoints.length === 0
      ? html`<p id="no-webhook-endpoints">No webhook endpoints yet.</p>`
      : html`<table id="webhook-endpoints">
  <thead><tr><th>URL</th><th>Events</th><th>Status</th><th>Rotation</th><th></th></tr></thead>
  <tbody>${rows}</tbody>
</table>`
  }
  <h2>Add an endpoint</h2>
  <form method="post" action="/dashboard/settings/webhooks" id="add-webhook-endpoint">
    ${csrfField(signedIn.csrfToken)}
    <label for="webhook-url">URL (https)</label>
    <input id="webhook-url" name="url" maxlength="2048" required value="${form.url}">
    <fieldset>
      <legend>Events (none ticked: every event)</legend>
      ${EVENT_TYPES.map(
        (type) =>
          html`<label class="choice"><input type="checkbox" name="type-${type}" id="type-${type.replace('.', '-')}"${form.eventTypes.includes(type) ? html` checked` : ''}> ${type}</label>`,
      )}
    </fieldset>
    <label for="webhook-secret">Your own secret (optional: left empty, mailbridge makes one)</label>
    <input id="webhook-secret" name="secret" type="password" autocomplete="off" maxlength="256">
    <div class="actions"><button type="submit" id="add-webhook-endpoint-submit">Add endpoint</button></div>
  </form>
  <h2>Latest deliveries</h2>
  ${
    model.deliveries.length === 0
      ? html`<p id="no-webhook-deliveries">No deliveries yet.</p>`
      : html`<table id="webhook-deliveries">
  <thead><tr><th>Event</th><th>To</th><th>Status</th><th>Attempts</th><th>Last error</th><th>Created</th><th></th></tr></thead>
  <tbody>${deliveryRows}</tbody>
</table>`
  }
</div>`,
  );
}
