import { type Html, html } from '../html.js';
import { CSRF_FIELD } from './csrf.js';

export type DashboardSection = 'accounts' | 'messages' | 'warmup' | 'settings';

export interface PageChrome {
  title: string;
  /** The signed-in user's email and the form token of their session; absent on the sign-in page. */
  signedIn?: { email: string; csrfToken: string } | undefined;
  current?: DashboardSection | undefined;
  /** `narrow` for small forms (sign-in). */
  narrow?: boolean;
}

/** The dashboard's page: a header with nav (Accounts, Messages, Warm-up, Settings, Sign out) and the signed-in email, then `body`. */
export function renderPage(chrome: PageChrome, body: Html): string {
  const nav = (section: DashboardSection, href: string, label: string) =>
    html`<a href="${href}" id="nav-${section}"${chrome.current === section ? html` aria-current="page"` : ''}>${label}</a>`;
  const header = chrome.signedIn
    ? html`<header class="top">
  <a class="brand" href="/dashboard">mailbridge</a>
  <nav aria-label="Dashboard">
    ${nav('accounts', '/dashboard', 'Accounts')}
    ${nav('messages', '/dashboard/messages', 'Messages')}
    ${nav('warmup', '/dashboard/warmup', 'Warm-up')}
    ${nav('settings', '/dashboard/settings/communication', 'Settings')}
  </nav>
  <span class="who" id="signed-in-as">${chrome.signedIn.email}</span>
  <form class="inline" method="post" action="/dashboard/sign-out">
    ${csrfField(chrome.signedIn.csrfToken)}
    <button type="submit" class="link" id="sign-out">Sign out</button>
  </form>
</header>`
    : html`<header class="top"><span class="brand">mailbridge</span></header>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${chrome.title} · mailbridge</title>
<link rel="stylesheet" href="/assets/app.css">
</head>
<body>
${header}
<main${chrome.narrow ? html` class="narrow"` : ''}>
${body}
</main>
</body>
</html>
`.toString();
}

export function csrfField(token: string): Html {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${token}">`;
}

/** A notice at the top of a page (`kind` error for failures). */
export function notice(text: string | Html, kind: 'info' | 'error' = 'info', id = 'notice'): Html {
  return html`<div class="notice${kind === 'error' ? ' error' : ''}" id="${id}" role="${kind === 'error' ? 'alert' : 'status'}">${text}</div>`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "3 May 2026, 14:05 UTC": unambiguous for every reader, in the one zone the server knows. */
export function formatTime(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return '—';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()}, ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())} UTC`;
}

export function formatDate(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return '—';
  return `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()}`;
}
