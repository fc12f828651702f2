import type { AccountView } from '../../accounts/account-view.js';
import type { EventView } from '../../events/event-recorder.js';
import { CONSUMER_TENANT_ID } from '../../microsoft/tenants.js';
import { type Html, html } from '../html.js';
import { csrfField, formatDate, formatTime, notice, renderPage } from './layout.js';
import type { PendingConnection } from './pending-connections.js';
import { describePermissions } from './permission-names.js';

/** Microsoft's tenant of personal accounts (Outlook.com, Hotmail). @see docs/entra.md §1.6 */

/** Statuses in which "Reconnect" is the way forward (the user signs in again through the connect flow). */
const RECONNECTABLE = new Set(['reconnect_required', 'admin_approval_pending', 'unknown', 'disconnected']);

export interface SignedIn {
  email: string;
  csrfToken: string;
  /** The owner external id of the signed-in user (`dashboard:<userId>`). */
  ownerExternalId: string;
}

export interface PageNotice {
  kind: 'info' | 'error';
  text: string;
  /** Extra lines (e.g. what to do). */
  detail?: string | undefined;
}

const STATUS_LABELS: Readonly<Record<string, string>> = {
  connected: 'Connected',
  degraded: 'Degraded',
  reconnect_required: 'Reconnect required',
  admin_approval_pending: 'Admin approval pending',
  app_misconfigured: 'App misconfigured',
  mailbox_unusable: 'Mailbox unusable',
  disconnected: 'Disconnected',
  unknown: 'Unknown problem',
};

export function statusLabel(status: string): string {
  return STATUS_LABELS[status] ?? status;
}

function badge(status: string): Html {
  return html`<span class="badge ${status}" data-status="${status}">${statusLabel(status)}</span>`;
}

function ownerLabel(account: AccountView, signedIn: SignedIn): string {
  return account.ownerId === signedIn.ownerExternalId ? 'You' : account.ownerId;
}

function accountKind(account: AccountView): string {
  return account.tenantId === CONSUMER_TENANT_ID
    ? 'Personal (Outlook.com / Hotmail)'
    : 'Work or school (Microsoft 365)';
}

function renderNotice(pageNotice: PageNotice | undefined): Html | false {
  if (!pageNotice) return false;
  return notice(
    html`<strong>${pageNotice.text}</strong>${pageNotice.detail && html`<br>${pageNotice.detail}`}`,
    pageNotice.kind,
    'connect-notice',
  );
}

export function renderAccountsPage(model: {
  signedIn: SignedIn;
  accounts: AccountView[];
  pending: PendingConnection[];
  notice?: PageNotice | undefined;
  more: boolean;
}): string {
  const { signedIn, accounts } = model;
  const rows = accounts.map(
    (account) => html`<tr data-account-id="${account.id}">
  <td><a href="/dashboard/accounts/${account.id}" class="account-email">${account.email}</a>${account.displayName && html`<br><span class="muted">${account.displayName}</span>`}</td>
  <td>${badge(account.status)}</td>
  <td>${ownerLabel(account, signedIn)}</td>
  <td>${formatTime(account.lastRefreshedAt)}</td>
  <td>${formatDate(account.expiresIfUnusedBy)}</td>
</tr>`,
  );
  return renderPage(
    { title: 'Accounts', signedIn, current: 'accounts' },
    html`${renderNotice(model.notice)}
<div class="card">
  <div class="heading-row">
    <h1>Email accounts</h1>
    ${addAccountForms(signedIn)}
  </div>
  ${
    accounts.length === 0
      ? html`<p id="no-accounts">No email accounts yet. Choose <strong>Add email account</strong> to connect an Outlook.com, Hotmail or Microsoft 365 mailbox.</p>`
      : html`<table id="accounts">
  <thead><tr><th>Email</th><th>Status</th><th>Owner</th><th>Last refresh</th><th>Expires if unused by</th></tr></thead>
  <tbody>${rows}</tbody>
</table>
${model.more && html`<p class="muted">Showing the first ${accounts.length} accounts.</p>`}`
  }
</div>
${model.pending.length > 0 && renderPendingConnections(model.pending)}`,
  );
}

/**
 * "Add email account": one click to the hosted connect flow, whose first page is the provider choice (Microsoft
 * Outlook / Hotmail / Microsoft 365) with the permissions that will be asked. The dashboard does not ask for the
 * provider itself, so nobody chooses twice; it only decides the permission profile, which the connect flow never
 * asks (the host app decides it): "Add email account" is send-only (least privilege), a second button adds warm-up.
 */
function addAccountForms(signedIn: SignedIn, primaryId = 'add-account'): Html {
  return html`<div class="actions add-account">
  <form method="post" action="/dashboard/accounts/new" class="inline">
    ${csrfField(signedIn.csrfToken)}
    <input type="hidden" name="profile" value="send">
    <button type="submit" id="${primaryId}">Add email account</button>
  </form>
  <form method="post" action="/dashboard/accounts/new" class="inline">
    ${csrfField(signedIn.csrfToken)}
    <input type="hidden" name="profile" value="warmup">
    <button type="submit" class="secondary" id="${primaryId}-warmup" title="Also lets mailbridge read, move and file mail and manage inbox rules">Add for sending and warm-up</button>
  </form>
</div>`;
}

/**
 * Connections waiting for an IT admin: the link to pass on while pending, and "Finish connecting" once approved,
 * which posts straight to the connect flow's start (one click: Microsoft remembers the user and the organisation's
 * consent covers the permissions).
 */
function renderPendingConnections(pending: PendingConnection[]): Html {
  return html`<div class="card" id="pending-connections">
  <h2>Waiting for approval</h2>
  <ul class="timeline">${pending.map(
    (item) =>
      html`<li data-connect-session="${item.sessionId}" data-approval="${item.granted ? 'granted' : 'pending'}">${
        item.granted
          ? html`<strong>Your IT admin approved.</strong> One click to finish:
  <form method="post" action="/connect/${item.sessionId}/start" class="inline"><button type="submit" class="finish-connecting" id="finish-${item.sessionId}">Finish connecting</button></form>`
          : html`Your organisation requires an IT admin to approve mailbridge (asked ${formatTime(item.requestedAt)}).
  ${item.adminConsentUrl && html`Send your IT admin <a href="${item.adminConsentUrl}" rel="noreferrer" class="admin-consent-link">this approval link</a>, or`}
  <a href="/connect/${item.sessionId}">see the details for IT</a> (application ID, permissions, a message to send). Come back here once they approve.`
      }</li>`,
  )}</ul>
</div>`;
}

export function renderAddAccountPage(model: { signedIn: SignedIn; error?: string | undefined }): string {
  const { signedIn } = model;
  return renderPage(
    { title: 'Add email account', signedIn, current: 'accounts' },
    html`${model.error && notice(model.error, 'error')}
<div class="card">
  <h1>Add email account</h1>
  <p>Connect an Outlook.com, Hotmail or Microsoft 365 mailbox. Next you choose the provider, sign in at Microsoft and accept the permissions; mailbridge never sees your password.</p>
  <ul>
    <li><strong>Add email account</strong>: to send mail only (least privilege: send as you and read your profile; no reading of mail).</li>
    <li><strong>Add for sending and warm-up</strong>: also reads, moves and files mail and manages inbox rules, which warm-up needs.</li>
  </ul>
  ${addAccountForms(signedIn, 'add-account-page')}
  <p class="muted">Your organisation may require an IT admin to approve mailbridge first; if so, you will be told how to ask them.</p>
</div>`,
  );
}

export function renderAccountPage(model: {
  signedIn: SignedIn;
  account: AccountView;
  events: EventView[];
  notice?: PageNotice | undefined;
}): string {
  const { signedIn, account } = model;
  const disconnected = account.status === 'disconnected';
  const permissions = describePermissions(
    // offline_access is never listed in Microsoft's `scope` answer but every connected account holds a refresh
    // token: it was granted (connect-flow rule, permission-profiles.ts `missingPermissions`).
    account.scopes.some((scope) => scope.toLowerCase() === 'offline_access') || disconnected
      ? account.scopes
      : [...account.scopes, 'offline_access'],
  );
  const evidence = account.evidence;
  const evidenceCodes = evidence
    ? [
        evidence.error && `error ${evidence.error}`,
        evidence.errorCodes?.length ? `AADSTS ${evidence.errorCodes.join(', ')}` : undefined,
        evidence.graphCode && `Graph ${evidence.graphCode}`,
        evidence.httpStatus && `HTTP ${evidence.httpStatus}`,
        evidence.traceId && `trace id ${evidence.traceId}`,
        evidence.requestId && `request id ${evidence.requestId}`,
        evidence.timestamp && `at ${evidence.timestamp}`,
      ].filter((part): part is string => typeof part === 'string' && part.length > 0)
    : [];
  return renderPage(
    { title: account.email, signedIn, current: 'accounts' },
    html`${renderNotice(model.notice)}
<p><a href="/dashboard">← Accounts</a>${!disconnected && html` · <a href="/dashboard/accounts/${account.id}/warmup" id="account-warmup">Warm-up</a>`}</p>
<div class="card">
  <div class="heading-row">
    <h1 id="account-email">${account.email}</h1>
    ${badge(account.status)}
  </div>
  <h2 id="status-title">${account.remediation.title}</h2>
  <p id="what-to-do">${account.remediation.user}</p>
  ${account.reason && html`<p class="muted">Reason: <code id="status-reason">${account.reason}</code></p>`}
  ${
    !disconnected &&
    account.status !== 'connected' &&
    html`<details id="operator-details"><summary>For the operator</summary>
  <p>${account.remediation.operator}</p>
  ${evidenceCodes.length > 0 && html`<p class="muted">Evidence: ${evidenceCodes.join(' · ')}</p>`}
</details>`
  }
  ${
    RECONNECTABLE.has(account.status) &&
    html`<form method="post" action="/dashboard/accounts/${account.id}/reconnect" class="actions">
  ${csrfField(signedIn.csrfToken)}
  <button type="submit" id="reconnect">${disconnected ? 'Connect again' : 'Reconnect'}</button>
</form>`
  }
</div>
${disconnected && renderRevokeAtMicrosoft()}
<div class="card">
  <h2>Details</h2>
  <dl class="facts">
    <dt>Email</dt><dd>${account.email}</dd>
    ${account.displayName && html`<dt>Name</dt><dd>${account.displayName}</dd>`}
    <dt>Account type</dt><dd>${accountKind(account)}</dd>
    <dt>Owner</dt><dd>${ownerLabel(account, signedIn)}</dd>
    <dt>Connected</dt><dd>${formatTime(account.connectedAt)}</dd>
    <dt>Last refresh</dt><dd id="last-refresh">${formatTime(account.lastRefreshedAt)}</dd>
    ${
      !disconnected &&
      html`<dt>Expires if unused by</dt><dd id="expires-if-unused">${formatDate(account.expiresIfUnusedBy)}<br><span class="muted">Microsoft ends a connection that is unused for 90 days. mailbridge's keep-alive uses it about once a week, which renews this date, so nothing is needed from you.</span></dd>`
    }
  </dl>
</div>
<div class="card">
  <h2>${disconnected ? 'Permissions it had' : 'Permissions granted'}</h2>
  <p class="muted">As Microsoft's permission screen put them when you accepted:</p>
  <ul id="permissions">${permissions.map((line) => html`<li data-scope="${line.scope}">${line.words}</li>`)}</ul>
</div>
<div class="card">
  <h2>History</h2>
  ${
    model.events.length === 0
      ? html`<p class="muted">No events yet.</p>`
      : html`<ul class="timeline" id="timeline">${model.events.map(
          (event) =>
            html`<li data-type="${event.type}"><span class="muted">${formatTime(event.createdAt)}</span> · ${describeEvent(event)}</li>`,
        )}</ul>`
  }
</div>
${
  !disconnected &&
  html`<div class="card">
  <h2>Disconnect</h2>
  <p>Disconnecting deletes this account's tokens at once and stops everything mailbridge does with it.</p>
  <div class="actions"><a class="button danger" href="/dashboard/accounts/${account.id}/disconnect" id="disconnect">Disconnect…</a></div>
</div>`
}`,
  );
}

export function renderDisconnectConfirmPage(model: { signedIn: SignedIn; account: AccountView }): string {
  const { signedIn, account } = model;
  return renderPage(
    { title: `Disconnect ${account.email}`, signedIn, current: 'accounts' },
    html`<div class="card">
  <h1>Disconnect ${account.email}?</h1>
  <p>mailbridge deletes this account's tokens and their encryption key now: nothing can be sent from it any more, and the tokens cannot be recovered, not even from a backup.</p>
  <p>You can connect it again at any time.</p>
  <form method="post" action="/dashboard/accounts/${account.id}/disconnect" class="actions">
    ${csrfField(signedIn.csrfToken)}
    <button type="submit" class="danger" id="confirm-disconnect">Disconnect</button>
    <a class="button secondary" href="/dashboard/accounts/${account.id}" id="cancel-disconnect">Cancel</a>
  </form>
</div>`,
  );
}

function renderRevokeAtMicrosoft(): Html {
  return html`<div class="card" id="revoke-at-microsoft">
  <h2>Also remove mailbridge from your Microsoft account</h2>
  <p>The tokens are gone from mailbridge. To also withdraw the permission at Microsoft:</p>
  <ul>
    <li><strong>Personal account</strong> (Outlook.com, Hotmail, Live): go to <a href="https://account.microsoft.com/privacy/app-access" rel="noreferrer">account.microsoft.com</a> → Privacy → Apps and services, choose this app and <em>Remove these permissions</em>.</li>
    <li><strong>Work or school account</strong> (Microsoft 365): go to <a href="https://myapps.microsoft.com" rel="noreferrer">myapps.microsoft.com</a> (My Apps), open the app's menu and choose <em>Manage your application</em> → <em>Revoke permissions</em>, or ask your IT admin.</li>
  </ul>
</div>`;
}

function field(data: Record<string, unknown>, name: string): string | undefined {
  const value = data[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** One line of the timeline, from the event's type and the fields its producer puts in `data`. */
export function describeEvent(event: EventView): string {
  const data = event.data;
  switch (event.type) {
    case 'account.connected':
      return `Connected${field(data, 'email') ? ` as ${field(data, 'email')}` : ''}`;
    case 'account.reconnected':
      return `Reconnected${field(data, 'email') ? ` as ${field(data, 'email')}` : ''}`;
    case 'account.status_changed': {
      const status = field(data, 'status');
      const reason = field(data, 'reason');
      const title =
        typeof data['remediation'] === 'object' && data['remediation'] !== null
          ? field(data['remediation'] as Record<string, unknown>, 'title')
          : undefined;
      return `Status changed to ${status ? statusLabel(status) : 'another status'}${title ? `: ${title}` : reason ? ` (${reason})` : ''}`;
    }
    case 'account.disconnected':
      return 'Disconnected: tokens and their encryption key destroyed';
    case 'tenant.admin_approval_requested':
      return 'Approval requested from the organisation’s IT admin';
    case 'tenant.admin_consent_granted':
      return 'The organisation’s IT admin approved mailbridge';
    case 'message.sent':
      return 'Message sent';
    case 'message.failed':
      return 'Message failed';
    case 'message.held':
      return 'Message held';
    case 'message.released':
      return 'Message released';
    case 'message.canceled':
      return 'Message canceled';
    case 'message.bounced':
      return 'Message bounced (non-delivery report)';
    default:
      return event.type;
  }
}
