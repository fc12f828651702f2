import type { MessageStatus } from '../../db/tables/outbox.js';
import type { Remediation } from '../../health/remediation.js';
import type { MailAddress } from '../../outbox/message-input.js';
import type { MessageAttemptView, MessageView } from '../../outbox/message-store.js';
import { type Html, html } from '../html.js';
import { type PageNotice, type SignedIn, statusLabel } from './accounts-pages.js';
import { csrfField, formatTime, notice, renderPage } from './layout.js';

/** The statuses a message can be in, in the order the filter lists them. @see src/db/tables/outbox.ts */
export const MESSAGE_STATUS_LABELS: Readonly<Record<MessageStatus, string>> = {
  queued: 'Queued',
  sending: 'Sending',
  sent: 'Sent',
  failed: 'Failed',
  held: 'Held',
  canceled: 'Canceled',
  outcome_unknown: 'Outcome unknown',
  bounced: 'Bounced',
};

const CANCELABLE: ReadonlySet<MessageStatus> = new Set(['queued', 'held']);
/** The body preview stops here; the whole body is in the API's store, not needed to recognise a message. */
const PREVIEW_CHARACTERS = 5_000;

function messageBadge(status: MessageStatus): Html {
  return html`<span class="badge ${status}" data-status="${status}">${MESSAGE_STATUS_LABELS[status] ?? status}</span>`;
}

function formatAddress(address: MailAddress): string {
  return address.name ? `${address.name} <${address.address}>` : address.address;
}

/** "a@x, b@y and 3 more": a list row stays one line whatever the message had. */
function shortRecipients(message: MessageView): string {
  const all = [...message.to, ...message.cc, ...message.bcc];
  const shown = all.slice(0, 2).map((each) => each.address);
  return all.length > 2 ? `${shown.join(', ')} and ${all.length - 2} more` : shown.join(', ');
}

/** "14:05:09 UTC" within the minute matters on the attempt timeline (Retry-After is seconds). */
function formatInstant(value: string | null): string {
  if (value === null) return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return '—';
  const day = formatTime(value).replace(/, \d{2}:\d{2} UTC$/, '');
  return `${day}, ${date.toISOString().slice(11, 19)} UTC`;
}

function formatDuration(ms: number | null): string {
  if (ms === null) return '—';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function sender(message: MessageView): Html {
  return message.provider === 'microsoft'
    ? html`${message.accountId ? html`<a href="/dashboard/accounts/${message.accountId}" class="mono">${message.from}</a>` : html`<span class="mono">${message.from}</span>`}<br><span class="muted">Microsoft</span>`
    : html`<span class="mono">${message.from}</span><br><span class="muted">Default provider</span>`;
}

export interface MessagesListModel {
  signedIn: SignedIn;
  messages: MessageView[];
  status: MessageStatus | undefined;
  /** The cursor of this page (`before`), when it is not the first. */
  before: string | undefined;
  nextCursor: string | null;
  /** On the emulator: link to the mail that left the emulated world (outside-mail-page.ts). */
  outsideMailLink?: boolean;
}

function listUrl(status: MessageStatus | undefined, before?: string): string {
  const query = new URLSearchParams();
  if (status) query.set('status', status);
  if (before) query.set('before', before);
  return query.size > 0 ? `/dashboard/messages?${query}` : '/dashboard/messages';
}

/** The organisation's messages, newest first, with a status filter and "Older" pages. */
export function renderMessagesPage(model: MessagesListModel): string {
  const { signedIn, messages, status } = model;
  const filter = (value: MessageStatus | undefined, label: string) =>
    html`<a href="${listUrl(value)}" id="filter-${value ?? 'all'}"${value === status ? html` class="subnav-current" aria-current="page"` : ''}>${label}</a>`;
  const rows = messages.map(
    (message) => html`<tr data-message-id="${message.id}">
  <td>${messageBadge(message.status)}</td>
  <td class="recipients">${shortRecipients(message)}</td>
  <td><a href="/dashboard/messages/${message.id}" class="message-subject">${message.subject || '(no subject)'}</a></td>
  <td>${sender(message)}</td>
  <td>${formatTime(message.createdAt)}</td>
  <td>${formatTime(message.sentAt)}</td>
</tr>`,
  );
  const label = status ? MESSAGE_STATUS_LABELS[status].toLowerCase() : undefined;
  return renderPage(
    { title: 'Messages', signedIn, current: 'messages' },
    html`<div class="card">
  <div class="heading-row">
    <h1>Messages</h1>
    <div class="actions">${model.outsideMailLink && html`<a href="/dashboard/outside-mail" id="outside-mail-link">Mail that left the emulated world</a> `}<a class="button" href="/dashboard/messages/new" id="new-message">Send a test email</a></div>
  </div>
  <nav class="subnav" aria-label="Filter by status" id="status-filter">
    ${filter(undefined, 'All')}
    ${(Object.keys(MESSAGE_STATUS_LABELS) as MessageStatus[]).map((each) => filter(each, MESSAGE_STATUS_LABELS[each]))}
  </nav>
  ${
    messages.length === 0
      ? html`<p id="no-messages">${
          model.before
            ? 'No older messages.'
            : label
              ? `No ${label} messages.`
              : 'No messages yet. Send a test email, or send through the API.'
        }</p>`
      : html`<table id="messages">
  <thead><tr><th>Status</th><th>To</th><th>Subject</th><th>From</th><th>Created</th><th>Sent</th></tr></thead>
  <tbody>${rows}</tbody>
</table>`
  }
  ${
    (model.before || model.nextCursor) &&
    html`<nav class="pager" aria-label="Pages">
  ${model.before && html`<a href="${listUrl(status)}" id="newest-page">← Newest</a>`}
  ${model.nextCursor && html`<a href="${listUrl(status, model.nextCursor)}" id="older-page">Older →</a>`}
</nav>`
  }
</div>`,
  );
}

function isRemediation(value: unknown): value is Remediation {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record['title'] === 'string' && typeof record['user'] === 'string';
}

export interface MessagePageModel {
  signedIn: SignedIn;
  message: MessageView;
  /** The start of the body (text, else the HTML source), for recognising the message. */
  body: { kind: 'text' | 'html'; content: string } | undefined;
  /** What the account needs, for a held message (the account's remediation). */
  heldRemediation: Remediation | undefined;
  /** The sending account as it is now, for a held message's Reconnect. */
  account: { id: string; email: string; status: string } | undefined;
  notice?: PageNotice | undefined;
}

interface StatusSummary {
  title: string;
  text: string | undefined;
  remediation: Remediation | undefined;
  reason: string | undefined;
}

function summarize(model: MessagePageModel): StatusSummary {
  const { message } = model;
  const failure = message.failure;
  const remediation = failure && isRemediation(failure.remediation) ? failure.remediation : undefined;
  switch (message.status) {
    case 'queued': {
      const later = message.sendAt !== null && Date.parse(message.sendAt) > Date.parse(message.createdAt);
      return {
        title: message.attemptCount > 0 ? 'Waiting to try again' : later ? 'Scheduled' : 'Waiting to be sent',
        text:
          message.attemptCount > 0
            ? `An earlier attempt did not go through (see the attempts below); the next one is at ${formatInstant(message.nextAttemptAt)}.`
            : later
              ? `It goes out at ${formatTime(message.sendAt)}.`
              : "It goes out shortly: mailbridge paces each mailbox under Microsoft's limits.",
        remediation: undefined,
        reason: undefined,
      };
    }
    case 'sending':
      return {
        title: 'Being sent',
        text: 'It is being handed over right now.',
        remediation: undefined,
        reason: undefined,
      };
    case 'sent':
      return {
        title: 'Sent',
        text: `${message.provider === 'microsoft' ? 'Microsoft' : 'The mail relay'} accepted it at ${formatInstant(message.sentAt)}.`,
        remediation: undefined,
        reason: undefined,
      };
    case 'canceled':
      return {
        title: 'Canceled',
        text: `Canceled at ${formatInstant(message.canceledAt)}; it was not sent.`,
        remediation: undefined,
        reason: undefined,
      };
    case 'held':
      return {
        title: model.heldRemediation?.title ?? 'Held',
        text:
          `Held since ${formatTime(message.held?.since)}: the account${model.account ? ` ${model.account.email}` : ''} ` +
          `needs attention (${statusLabel(message.held?.reason ?? 'unknown')}). It goes out by itself once that is ` +
          `fixed; if it is not fixed by ${formatTime(message.held?.expiresAt)}, it fails.`,
        remediation: model.heldRemediation,
        reason: [message.held?.reason, message.held?.detail].filter(Boolean).join(': ') || undefined,
      };
    case 'bounced':
      return {
        title: remediation?.title ?? 'Bounced',
        text: `Microsoft accepted it, then a non-delivery report (${message.bounce?.status ?? 'unknown status'}) arrived at ${formatInstant(message.bounce?.at ?? null)}: ${failure?.message ?? 'not delivered'}.`,
        remediation,
        reason: failure?.reason,
      };
    case 'failed':
    case 'outcome_unknown':
      return {
        title: remediation?.title ?? (message.status === 'failed' ? 'Not sent' : 'Maybe sent'),
        text: failure?.message ?? undefined,
        remediation,
        reason: failure?.reason,
      };
  }
}

function attemptSaid(attempt: MessageAttemptView): string {
  const parts = [
    attempt.httpStatus !== null ? String(attempt.httpStatus) : undefined,
    attempt.graphCode ?? undefined,
    attempt.detail ?? undefined,
    attempt.evidence?.description && attempt.evidence.description !== attempt.detail
      ? attempt.evidence.description
      : undefined,
    attempt.retryAfterMs !== null ? `Retry-After ${attempt.retryAfterMs / 1000} s` : undefined,
    attempt.evidence?.networkCode ? `network ${attempt.evidence.networkCode}` : undefined,
  ];
  const said = parts.filter((part): part is string => typeof part === 'string' && part.length > 0);
  return said.length > 0 ? said.join(' · ') : '—';
}

function renderAttempts(attempts: MessageAttemptView[]): Html {
  if (attempts.length === 0) return html`<p class="muted" id="no-attempts">No attempt yet.</p>`;
  return html`<table id="attempts">
  <thead><tr><th>#</th><th>When</th><th>Step</th><th>Outcome</th><th>What was answered</th><th>Request id</th><th>Took</th></tr></thead>
  <tbody>${attempts.map(
    (attempt) => html`<tr data-attempt="${attempt.number}" data-outcome="${attempt.outcome}">
  <td>${attempt.number}</td>
  <td>${formatInstant(attempt.startedAt ?? attempt.claimedAt)}</td>
  <td>${attempt.step ?? '—'}</td>
  <td class="attempt-outcome">${attempt.outcome}</td>
  <td class="attempt-said">${attemptSaid(attempt)}</td>
  <td class="attempt-request-id">${attempt.requestId ? html`<code>${attempt.requestId}</code>` : '—'}${attempt.clientRequestId && html`<br><span class="muted">client ${attempt.clientRequestId}</span>`}</td>
  <td>${formatDuration(attempt.durationMs)}</td>
</tr>`,
  )}</tbody>
</table>`;
}

function addressList(addresses: MailAddress[]): string {
  return addresses.length === 0 ? '—' : addresses.map(formatAddress).join(', ');
}

/** One message: its status in words (reason, what to do), its attempt timeline, recipients and body preview. */
export function renderMessagePage(model: MessagePageModel): string {
  const { signedIn, message } = model;
  const summary = summarize(model);
  const preview = model.body;
  const truncated = preview !== undefined && preview.content.length > PREVIEW_CHARACTERS;
  return renderPage(
    { title: message.subject || 'Message', signedIn, current: 'messages' },
    html`${
      model.notice &&
      notice(
        html`<strong>${model.notice.text}</strong>${model.notice.detail && html`<br>${model.notice.detail}`}`,
        model.notice.kind,
        'message-notice',
      )
    }
<p><a href="/dashboard/messages">← Messages</a></p>
<div class="card" data-message-id="${message.id}">
  <div class="heading-row">
    <h1 id="message-subject">${message.subject || '(no subject)'}</h1>
    ${messageBadge(message.status)}
  </div>
  <h2 id="status-title">${summary.title}</h2>
  ${summary.text && html`<p id="status-text">${summary.text}</p>`}
  ${summary.remediation && html`<p id="what-to-do">${summary.remediation.user}</p>`}
  ${summary.reason && html`<p class="muted">Reason: <code id="status-reason">${summary.reason}</code></p>`}
  ${
    summary.remediation?.operator &&
    html`<details id="operator-details"><summary>For the operator</summary><p>${summary.remediation.operator}</p></details>`
  }
  ${
    message.status === 'held' &&
    model.account &&
    html`<div class="actions">
  <form method="post" action="/dashboard/accounts/${model.account.id}/reconnect" class="inline">
    ${csrfField(signedIn.csrfToken)}
    <button type="submit" id="reconnect">Reconnect ${model.account.email}</button>
  </form>
  <a class="button secondary" href="/dashboard/accounts/${model.account.id}" id="account-link">Open the account</a>
</div>`
  }
  ${
    CANCELABLE.has(message.status) &&
    html`<form method="post" action="/dashboard/messages/${message.id}/cancel" class="actions">
  ${csrfField(signedIn.csrfToken)}
  <button type="submit" class="danger" id="cancel-message">Cancel this message</button>
</form>`
  }
</div>
<div class="card">
  <h2>Attempts</h2>
  ${renderAttempts(message.attempts ?? [])}
</div>
<div class="card">
  <h2>Message</h2>
  <dl class="facts">
    <dt>From</dt><dd id="message-from">${sender(message)}</dd>
    <dt>To</dt><dd id="message-to">${addressList(message.to)}</dd>
    ${message.cc.length > 0 && html`<dt>Cc</dt><dd id="message-cc">${addressList(message.cc)}</dd>`}
    ${message.bcc.length > 0 && html`<dt>Bcc</dt><dd id="message-bcc">${addressList(message.bcc)}</dd>`}
    ${message.replyTo.length > 0 && html`<dt>Reply-to</dt><dd id="message-reply-to">${addressList(message.replyTo)}</dd>`}
    <dt>Subject</dt><dd>${message.subject || '(no subject)'}</dd>
    <dt>Created</dt><dd id="message-created">${formatInstant(message.createdAt)}</dd>
    ${message.sendAt && html`<dt>Send at</dt><dd id="message-send-at">${formatInstant(message.sendAt)}</dd>`}
    <dt>Sent</dt><dd id="message-sent">${formatInstant(message.sentAt)}</dd>
    ${
      message.attachments.length > 0 &&
      html`<dt>Attachments</dt><dd>${message.attachments.map((each) => html`${each.name} <span class="muted">(${each.contentType}, ${each.sizeBytes} bytes)</span><br>`)}</dd>`
    }
    ${
      message.headers.length > 0 &&
      html`<dt>Headers</dt><dd>${message.headers.map((each) => html`<code>${each.name}: ${each.value}</code><br>`)}</dd>`
    }
    <dt>Message-ID</dt><dd><code id="message-internet-id">${message.internetMessageId}</code></dd>
    <dt>Id</dt><dd><code>${message.id}</code></dd>
  </dl>
  ${
    preview &&
    html`<h3>${preview.kind === 'text' ? 'Text' : 'HTML (source)'}</h3>
  <pre class="body-preview" id="body-preview">${truncated ? `${preview.content.slice(0, PREVIEW_CHARACTERS)}…` : preview.content}</pre>
  ${truncated && html`<p class="muted">Showing the first ${PREVIEW_CHARACTERS} characters.</p>`}`
  }
</div>`,
  );
}
