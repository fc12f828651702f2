import type { AccountView } from '../accounts/account-view.js';
import type { PageNotice, SignedIn } from '../web/dashboard/accounts-pages.js';
import { csrfField, formatTime, notice, renderPage } from '../web/dashboard/layout.js';
import { type Html, html } from '../web/html.js';
import type { VolumeLimit } from './daily-volume-plan.js';
import { renderPlacementChart, renderVolumeChart } from './warmup-charts.js';
import type { WarmupMetrics } from './warmup-metrics.js';
import { MAX_USER_DAILY_CEILING, REPLY_RATE_RANGE, type SettingsIssue } from './warmup-settings.js';
import type {
  WarmupAccountView,
  WarmupActivityItem,
  WarmupDay,
  WarmupPoolMember,
  WarmupPoolView,
} from './warmup-store.js';

/**
 * The dashboard's warm-up pages (issue 12), rendered on the server under the dashboard's strict CSP: the account's
 * Warm-up section (state and why, switch, settings form, today's plan, charts, figures, recent activity) and the
 * pool page. Every figure is labelled as what it is: placement within the warm-up network (docs/warmup.md §F).
 */

export const WARMUP_STATE_LABELS: Readonly<Record<WarmupAccountView['state']['status'], string>> = {
  off: 'Off',
  active: 'Active',
  watch: 'Watch',
  throttled: 'Throttled',
  probation: 'Probation',
  quarantined: 'Quarantined',
  blocked: 'Blocked',
  paused: 'Paused',
};

/** What held today's target below the ramp, in words (docs/warmup.md §A). */
const LIMIT_WORDS: Readonly<Record<VolumeLimit, string>> = {
  receive_only: 'receive-only: this mailbox sends nothing',
  weekend_off: 'weekend: warm-up rests',
  weekend: 'weekend: a quarter of the volume',
  probation: 'probation: the start volume',
  young_account_ceiling: 'a young Outlook.com account: a lower ceiling for its first 30 days',
  light_day: 'a light day (×0.6, as people have)',
  health_watch: 'on watch for Junk placement: ×0.7',
  health_throttled: 'throttled for bounces: ×0.5',
  partners: 'not enough partners can receive today',
  young_mailbox_cap: 'a mailbox under 60 days old: 50 a day together with your own mail',
};

/** A limit in words; a day without sending says why in the engine's own term (`user_paused`, a state). */
function limitWords(limit: string): string {
  return LIMIT_WORDS[limit as VolumeLimit] ?? limit.replaceAll('_', ' ');
}

/** The state in a sentence, for a state without a stored remediation. */
function stateSentence(view: WarmupAccountView): string {
  switch (view.state.status) {
    case 'off':
      return 'Warm-up is off for this mailbox. It is opt-in: nothing is sent or read until you enable it.';
    case 'active':
      return `Warming up: day ${view.rampDay} of the ramp.`;
    case 'watch':
      return 'At least 10% of this mailbox’s warm-up mail landed in Junk: it sends less (×0.7) until that improves.';
    case 'throttled':
      return 'At least 3% of this mailbox’s warm-up mail bounced: it sends half (×0.5) until that improves.';
    case 'probation':
      return `Restarting gently: the start volume until ${formatTime(view.state.until)}, then the ramp.`;
    default:
      return view.state.remediation ?? '';
  }
}

export type SettingsValues = Readonly<Record<'dailyCeiling' | 'replyRate' | 'timeZone', string>> &
  Readonly<Record<'weekends' | 'receiveOnly', boolean>>;

export interface WarmupAccountPageModel {
  signedIn: SignedIn;
  account: AccountView;
  view: WarmupAccountView;
  /** Why warm-up cannot be enabled for this account (a send-only or disconnected account), if so. */
  refusal?: { code: string; message: string } | undefined;
  series: readonly WarmupDay[];
  activity: readonly WarmupActivityItem[];
  /** A submitted settings form that was refused: what was typed, and each problem. */
  form?: { values: SettingsValues; issues: readonly SettingsIssue[] } | undefined;
  notice?: PageNotice | undefined;
}

export function settingsValuesOf(view: WarmupAccountView): SettingsValues {
  return {
    dailyCeiling: view.settings.dailyCeiling === undefined ? '' : String(view.settings.dailyCeiling),
    replyRate: view.settings.replyRate === undefined ? '' : String(view.settings.replyRate),
    timeZone: view.settings.timeZone ?? '',
    weekends: view.settings.weekends,
    receiveOnly: view.settings.receiveOnly,
  };
}

export function renderWarmupAccountPage(model: WarmupAccountPageModel): string {
  const { signedIn, account, view } = model;
  const status = view.state.status;
  return renderPage(
    { title: `Warm-up · ${account.email}`, signedIn, current: 'warmup' },
    html`${model.notice && notice(html`<strong>${model.notice.text}</strong>${model.notice.detail && html`<br>${model.notice.detail}`}`, model.notice.kind)}
<p><a href="/dashboard/accounts/${account.id}">← ${account.email}</a> · <a href="/dashboard/warmup">Warm-up pool</a></p>
<div class="card" id="warmup-state" data-state="${status}" data-enabled="${String(view.enabled)}">
  <div class="heading-row">
    <h1>Warm-up · ${account.email}</h1>
    ${stateBadge(status)}
  </div>
  ${model.refusal ? renderRefusal(model, signedIn) : renderStateAndSwitch(model)}
</div>
${!model.refusal && renderSettingsForm(model)}
${status !== 'off' && renderToday(view)}
${status !== 'off' && renderCharts(model.series)}
${status !== 'off' && renderMetrics(view)}
${status !== 'off' && renderActivity(model.activity)}`,
  );
}

function stateBadge(status: WarmupAccountView['state']['status']): Html {
  return html`<span class="badge warmup-${status}" id="warmup-status">${WARMUP_STATE_LABELS[status]}</span>`;
}

function renderRefusal(model: WarmupAccountPageModel, signedIn: SignedIn): Html {
  const sendOnly = model.refusal?.code === 'WARMUP_PROFILE_REQUIRED';
  return html`<p id="warmup-refusal" data-code="${model.refusal?.code}">${model.refusal?.message}</p>
  ${
    sendOnly &&
    html`<p>Reconnecting asks Microsoft for the extra permissions (read and manage mail, mailbox settings) once; the mailbox keeps its history here.</p>
  <form method="post" action="/dashboard/accounts/${model.account.id}/reconnect" class="actions">
    ${csrfField(signedIn.csrfToken)}
    <input type="hidden" name="profile" value="warmup">
    <button type="submit" id="reconnect-warmup">Reconnect with warm-up permissions</button>
  </form>`
  }`;
}

function renderStateAndSwitch(model: WarmupAccountPageModel): Html {
  const { view, account, signedIn } = model;
  const { state } = view;
  const held = state.status === 'quarantined' || state.status === 'blocked' || state.status === 'paused';
  return html`<p id="warmup-why">${stateSentence(view)}</p>
  ${held && state.reason && html`<p class="muted">Reason: <code id="warmup-reason">${state.reason}</code>${state.until && html` · until ${formatTime(state.until)}`}</p>`}
  ${held && state.remediation && state.reason !== 'user' && html`<p id="warmup-remediation"><strong>What to do:</strong> ${state.remediation}</p>`}
  ${!view.enabled && state.status !== 'off' && state.status !== 'paused' && html`<p id="warmup-switch-off">You switched warm-up off; the ${WARMUP_STATE_LABELS[state.status].toLowerCase()} state above still runs its course.</p>`}
  <div class="actions">
  ${
    resumable(view) &&
    html`<form method="post" action="/dashboard/accounts/${account.id}/warmup/enable" class="inline">
    ${csrfField(signedIn.csrfToken)}
    <button type="submit" id="warmup-resume">${view.enabled ? 'Resume now, on probation' : 'Resume warm-up'}</button>
  </form>`
  }
  ${
    view.enabled &&
    html`<form method="post" action="/dashboard/accounts/${account.id}/warmup/pause" class="inline">
    ${csrfField(signedIn.csrfToken)}
    <button type="submit" class="secondary" id="warmup-pause">Pause warm-up</button>
  </form>`
  }
  </div>`;
}

/**
 * Whether "Resume" can do something: after the user's own pause, and after a pause the user may lift, once the
 * restriction is released or rather than wait out a throttling pause (docs/warmup.md §G: both restart on probation).
 * A revoked grant needs a reconnect, and a quarantine or block runs its course.
 */
function resumable(view: WarmupAccountView): boolean {
  if (!view.enabled) return view.state.status !== 'off';
  return (
    view.state.status === 'paused' &&
    (view.state.reason === 'restricted_sender' || view.state.reason === 'throttling_storms')
  );
}

/**
 * The user's choices (docs/warmup.md §S). Before warm-up was ever enabled the same form enables it, so the first
 * choice is made with the opt-in; afterwards it saves them, whether warm-up is on or paused.
 */
function renderSettingsForm(model: WarmupAccountPageModel): Html {
  const { view, account, signedIn } = model;
  const first = view.state.status === 'off';
  const values = model.form?.values ?? settingsValuesOf(view);
  const issues = model.form?.issues ?? [];
  const issueOf = (field: string) => issues.find((issue) => issue.path === field);
  const error = (field: string) => {
    const issue = issueOf(field);
    return issue && html`<p class="field-error" id="warmup-${field}-error">${issue.message}</p>`;
  };
  const invalid = (field: string) =>
    issueOf(field) ? html` aria-invalid="true" aria-describedby="warmup-${field}-error"` : '';
  const other = issues.filter(
    (issue) => !['dailyCeiling', 'replyRate', 'timeZone', 'weekends', 'receiveOnly'].includes(issue.path),
  );
  return html`<div class="card" id="warmup-settings">
  <h2>${first ? 'Enable warm-up' : 'Settings'}</h2>
  ${first && html`<p>Warm-up sends a few short, ordinary messages a day between mailboxes of the warm-up pool, and reads, rescues from Junk, flags and answers what this mailbox receives from them, filing it into a “Warm-up” folder so your Inbox stays clean. It starts small and grows by itself.</p>`}
  ${other.length > 0 && notice(other.map((issue) => `${issue.path}: ${issue.message}`).join('; '), 'error', 'warmup-settings-error')}
  <form method="post" action="/dashboard/accounts/${account.id}/warmup/${first ? 'enable' : 'settings'}">
    ${csrfField(signedIn.csrfToken)}
    <input type="hidden" name="settings" value="1">
    <label for="warmup-dailyCeiling">Most messages a day</label>
    <p class="hint">1 to ${MAX_USER_DAILY_CEILING}; empty: ${view.provider === 'outlook_com' ? '10 for a new Outlook.com account, then 15' : '20'}.</p>
    <input type="number" id="warmup-dailyCeiling" name="dailyCeiling" min="1" max="${MAX_USER_DAILY_CEILING}" step="1" value="${values.dailyCeiling}"${invalid('dailyCeiling')}>
    ${error('dailyCeiling')}
    <label for="warmup-replyRate">Reply rate</label>
    <p class="hint">Share of received warm-up messages answered, ${REPLY_RATE_RANGE.min} to ${REPLY_RATE_RANGE.max}; empty: 0.3.</p>
    <input type="number" id="warmup-replyRate" name="replyRate" min="${REPLY_RATE_RANGE.min}" max="${REPLY_RATE_RANGE.max}" step="0.01" value="${values.replyRate}"${invalid('replyRate')}>
    ${error('replyRate')}
    <label class="choice"><input type="checkbox" id="warmup-weekends" name="weekends"${values.weekends ? html` checked` : ''}> Also on weekends (a quarter of the volume)</label>
    <label class="choice"><input type="checkbox" id="warmup-receiveOnly" name="receiveOnly"${values.receiveOnly ? html` checked` : ''}> Receive only (never send)</label>
    <label for="warmup-timeZone">Time zone</label>
    <p class="hint">Empty: the mailbox’s own${view.timeZone ? html` (now ${view.timeZone})` : ''}. An IANA name such as Europe/Paris, or a Windows name such as Pacific Standard Time.</p>
    <input type="text" id="warmup-timeZone" name="timeZone" maxlength="100" value="${values.timeZone}"${invalid('timeZone')}>
    ${error('timeZone')}
    <div class="actions"><button type="submit" id="${first ? 'warmup-enable' : 'warmup-save'}">${first ? 'Enable warm-up' : 'Save settings'}</button></div>
  </form>
</div>`;
}

function renderToday(view: WarmupAccountView): Html {
  const { today } = view;
  return html`<div class="card" id="warmup-today">
  <h2>Today’s plan</h2>
  <dl class="facts">
    <dt>Date</dt><dd>${today.date ?? 'not planned yet'}${view.timeZone && html` (${view.timeZone})`}</dd>
    <dt>Target</dt><dd id="warmup-target">${today.target} ${today.target === 1 ? 'message' : 'messages'}, replies included</dd>
    <dt>Sent so far</dt><dd id="warmup-done">${today.done}</dd>
    ${today.limitedBy.length > 0 && html`<dt>Held below the ramp by</dt><dd id="warmup-limited-by">${today.limitedBy.map(limitWords).join('; ')}</dd>`}
  </dl>
  <h3>Next sends</h3>
  ${
    view.nextSlots.length === 0
      ? html`<p class="muted" id="warmup-no-slots">None planned.</p>`
      : html`<ul id="warmup-slots">${view.nextSlots.slice(0, 10).map((slot) => html`<li>${formatTime(slot)}</li>`)}</ul>`
  }
</div>`;
}

/** The 30 days of charts, from the first day with anything planned, sent or observed. */
function renderCharts(series: readonly WarmupDay[]): Html {
  const first = series.findIndex((day) => day.planned + day.sent + day.inbox + day.junk > 0);
  const days = first === -1 ? [] : series.slice(first);
  return html`<div class="card" id="warmup-charts">
  <h2>Last 30 days</h2>
  <p class="muted">Within the warm-up network: where partner mailboxes found this mailbox’s warm-up mail, before touching it. It says nothing certain about other recipients.</p>
  ${renderVolumeChart(days, { id: 'warmup-volume-chart', title: 'Warm-up messages per day: planned and sent' })}
  ${renderPlacementChart(days, { id: 'warmup-placement-chart', title: 'Where partners found this mailbox’s warm-up mail, per day' })}
</div>`;
}

const percent = (value: number | null) => (value === null ? '—' : `${Math.round(value * 1000) / 10}%`);

function renderMetrics(view: WarmupAccountView): Html {
  const { last7Days: week, last30Days: month } = view.metrics;
  const row = (label: string, id: string, of: (m: WarmupMetrics) => string | number) =>
    html`<tr id="warmup-metric-${id}"><th scope="row">${label}</th><td>${of(week)}</td><td>${of(month)}</td></tr>`;
  return html`<div class="card" id="warmup-metrics">
  <h2>Figures</h2>
  <table>
    <caption class="muted">Within the warm-up network. A rate with nothing to divide shows —.</caption>
    <thead><tr><th scope="col"></th><th scope="col">7 days</th><th scope="col">30 days</th></tr></thead>
    <tbody>
      ${row('Health (0–100)', 'health', (m) => m.health ?? 'not yet (20 observations or 3 days)')}
      ${row('Sent (replies included)', 'sent', (m) => m.sent)}
      ${row('Replies sent', 'replies', (m) => m.replies)}
      ${row('Received', 'received', (m) => m.received)}
      ${row('Observed by partners', 'observed', (m) => m.observed)}
      ${row('Inbox rate', 'inbox-rate', (m) => percent(m.inboxRate))}
      ${row('Spam rate', 'spam-rate', (m) => percent(m.spamRate))}
      ${row('Saved from spam', 'saved', (m) => m.savedFromSpam)}
      ${row('Bounces', 'bounces', (m) => `${m.bounces} (${percent(m.bounceRate)})`)}
      ${row('Coverage (observed ÷ sent)', 'coverage', (m) => percent(m.coverage))}
    </tbody>
  </table>
</div>`;
}

const FOLDERS: Readonly<Record<'inbox' | 'junkemail', string>> = { inbox: 'Inbox', junkemail: 'Junk Email' };

/** What was done with a message, in order, in words. */
function actionsOf(item: WarmupActivityItem): string {
  const done: [string | null, string][] = [
    [item.actions.rescued, 'moved from Junk to Inbox'],
    [item.actions.read, 'read'],
    [item.actions.flagged, 'flagged'],
    [item.actions.markedImportant, 'marked important'],
    [item.actions.replied, 'replied'],
    [item.actions.filed, 'filed in Warm-up'],
    [item.actions.purged, 'purged'],
  ];
  const words = done.filter(([at]) => at !== null).map(([, word]) => word);
  return words.length === 0 ? '—' : words.join(', ');
}

function renderActivity(activity: readonly WarmupActivityItem[]): Html {
  return html`<div class="card" id="warmup-activity">
  <h2>Recent activity</h2>
  ${
    activity.length === 0
      ? html`<p class="muted" id="warmup-no-activity">No warm-up mail yet.</p>`
      : html`<table>
    <thead><tr><th scope="col">When</th><th scope="col">With</th><th scope="col">Subject</th><th scope="col">Landed in</th><th scope="col">Done with it</th></tr></thead>
    <tbody>${activity.map(
      (item) => html`<tr data-activity="${item.id}" data-direction="${item.direction}">
      <td>${formatTime(item.sentAt ?? item.plannedAt)}</td>
      <td>${item.direction === 'sent' ? 'To' : 'From'} ${item.counterpart.email}</td>
      <td>${item.subject}${item.turn > 0 && html` <span class="muted">(reply ${item.turn})</span>`}</td>
      <td class="landed">${item.bounce ? html`bounced (${item.bounce.status})` : item.landedIn ? FOLDERS[item.landedIn] : item.status === 'planned' ? 'planned' : 'not seen yet'}</td>
      <td class="done">${actionsOf(item)}</td>
    </tr>`,
    )}</tbody>
  </table>`
  }
</div>`;
}

// ----- pool ---------------------------------------------------------------------------------------------------------

export interface WarmupPoolPageModel {
  signedIn: SignedIn;
  pool: WarmupPoolView;
  /** The organisation's other mailboxes (not in the pool), to enable warm-up from their page. */
  others: readonly AccountView[];
}

export function renderWarmupPoolPage(model: WarmupPoolPageModel): string {
  const { pool } = model;
  const member = (m: WarmupPoolMember) => html`<tr data-account="${m.accountId}" data-state="${m.state}">
      <td><a href="/dashboard/accounts/${m.accountId}/warmup">${m.email}</a></td>
      <td>${stateBadge(m.state)}${!m.enabled && html` <span class="muted">switched off</span>`}</td>
      <td>${m.todayTarget}</td>
      <td>${m.sent7Days}</td>
      <td>${m.received7Days}</td>
      <td>${percent(m.inboxRate7Days)}</td>
      <td>${m.health ?? '—'}</td>
    </tr>`;
  return renderPage(
    { title: 'Warm-up', signedIn: model.signedIn, current: 'warmup' },
    html`<div class="card" id="warmup-pool">
  <h1>Warm-up pool</h1>
  <p>Your organisation’s mailboxes in warm-up send each other short, ordinary mail and engage with what they receive. Every figure here is within the warm-up network.</p>
  ${
    pool.members.length === 0
      ? html`<p class="muted" id="warmup-pool-empty">No mailbox is in warm-up yet. Open a mailbox below to enable it.</p>`
      : html`<dl class="facts" id="warmup-totals">
    <dt>Mailboxes</dt><dd id="warmup-total-members">${pool.totals.members} (${pool.totals.enabled} switched on)</dd>
    <dt>By state</dt><dd id="warmup-total-states">${Object.entries(pool.totals.byState)
      .map(([state, count]) => `${WARMUP_STATE_LABELS[state as keyof typeof WARMUP_STATE_LABELS]} ${count}`)
      .join(', ')}</dd>
    <dt>Sent and received, 7 days</dt><dd id="warmup-total-volume">${pool.totals.sent7Days} sent, ${pool.totals.received7Days} received</dd>
    <dt>Inbox rate, 7 days</dt><dd id="warmup-total-inbox-rate">${percent(pool.totals.inboxRate7Days)}</dd>
  </dl>
  <table id="warmup-members">
    <thead><tr><th scope="col">Mailbox</th><th scope="col">State</th><th scope="col">Today</th><th scope="col">Sent 7d</th><th scope="col">Received 7d</th><th scope="col">Inbox 7d</th><th scope="col">Health</th></tr></thead>
    <tbody>${pool.members.map(member)}</tbody>
  </table>`
  }
</div>
${
  model.others.length > 0 &&
  html`<div class="card" id="warmup-others">
  <h2>Other mailboxes</h2>
  <ul>${model.others.map((account) => html`<li><a href="/dashboard/accounts/${account.id}/warmup" data-account="${account.id}">${account.email}</a>${account.permissionProfile !== 'warmup' && html` <span class="muted">(connected for sending only)</span>`}</li>`)}</ul>
</div>`
}`,
  );
}
