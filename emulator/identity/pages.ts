/**
 * The sign-in pages' HTML. Plain, accessible forms with stable ids that tests (and people) can drive:
 *
 * - sign-in: `#email`, `#password`, `#next`; an error shows in `#error` (with `data-aadsts` when it has a code)
 * - account picker: one button per account, `#account-0`, `#account-1`, … (`data-email`), and `#use-another`
 * - second factor: `#code`, `#next`
 * - consent: `#permissions` (one `li[data-scope]` per line), `#accept`, `#cancel`, and for admins `#consent-org`
 * - need admin approval: `#justification` + `#request-approval` (workflow on), `#back`, `#use-another`
 * - request sent: `#back`; error page: `#error-code`, `#error-message`
 *
 * Every form posts back to the endpoint the flow started on, with a hidden `flow` field and the pressed button's
 * `name="action"` value. Everything rendered is escaped.
 */

export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const STYLE = `body{font-family:Segoe UI,system-ui,sans-serif;background:#f2f2f2;margin:0}
main{max-width:440px;margin:48px auto;background:#fff;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}
h1{font-size:24px;font-weight:600;margin:0 0 16px}label{display:block;margin:12px 0 4px}
input[type=email],input[type=password],input[type=text],textarea{width:100%;box-sizing:border-box;padding:6px;font-size:15px}
button{margin:16px 8px 0 0;padding:6px 20px;font-size:15px}.primary{background:#0067b8;color:#fff;border:0}
.error{color:#e81123}.muted{color:#605e5c;font-size:13px}ul{padding-left:20px}`;

export function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

export interface FormTarget {
  /** Path the form posts to (the endpoint the flow started on). */
  action: string;
  /** The opaque flow id. */
  flow: string;
}

function form(target: FormTarget, inner: string): string {
  return `<form method="post" action="${escapeHtml(target.action)}">
<input type="hidden" name="flow" value="${escapeHtml(target.flow)}">
${inner}
</form>`;
}

function errorBlock(error: PageError | undefined): string {
  if (!error) return '';
  const code = error.code === undefined ? '' : ` data-aadsts="${error.code}"`;
  return `<p id="error" class="error" role="alert"${code}>${escapeHtml(error.message)}</p>`;
}

export interface PageError {
  message: string;
  code?: number;
}

export function signInPage(
  target: FormTarget,
  options: { appName: string; email: string | null; error?: PageError },
): string {
  return layout(
    'Sign in to your account',
    `<h1>Sign in</h1>
<p class="muted">to continue to ${escapeHtml(options.appName)}</p>
${errorBlock(options.error)}
${form(
  target,
  `<label for="email">Email, phone, or Skype</label>
<input id="email" name="login" type="email" autocomplete="username" required value="${escapeHtml(options.email ?? '')}">
<label for="password">Password</label>
<input id="password" name="passwd" type="password" autocomplete="current-password" required>
<button id="next" class="primary" type="submit" name="action" value="sign-in">Sign in</button>`,
)}`,
  );
}

export function accountPickerPage(
  target: FormTarget,
  options: { appName: string; accounts: Array<{ userId: string; email: string; displayName: string }> },
): string {
  const buttons = options.accounts
    .map(
      (account, index) =>
        `<li><button id="account-${index}" type="submit" name="account" value="${escapeHtml(account.userId)}" data-email="${escapeHtml(account.email)}">${escapeHtml(account.displayName)} <span class="muted">${escapeHtml(account.email)}</span></button></li>`,
    )
    .join('\n');
  return layout(
    'Sign in to your account',
    `<h1>Pick an account</h1>
<p class="muted">to continue to ${escapeHtml(options.appName)}</p>
${form(
  target,
  `<input type="hidden" name="action" value="pick">
<ul id="accounts">
${buttons}
</ul>
<button id="use-another" type="submit" name="account" value="">Use another account</button>`,
)}`,
  );
}

export function secondFactorPage(target: FormTarget, options: { email: string; error?: PageError }): string {
  return layout(
    'Enter code',
    `<h1>Enter code</h1>
<p>We texted your phone. Please enter the code to sign in as ${escapeHtml(options.email)}.</p>
${errorBlock(options.error)}
${form(
  target,
  `<label for="code">Code</label>
<input id="code" name="otc" type="text" inputmode="numeric" autocomplete="one-time-code" required>
<button id="next" class="primary" type="submit" name="action" value="second-factor">Verify</button>`,
)}`,
  );
}

export function consentPage(
  target: FormTarget,
  options: {
    appName: string;
    email: string;
    lines: Array<{ scope: string; text: string }>;
    /** An admin may also consent for the whole organisation. */
    offerOrganization: boolean;
    /** The admin consent endpoints: accepting always grants for the organisation. */
    forOrganization?: string;
  },
): string {
  const items = options.lines
    .map((line) => `<li data-scope="${escapeHtml(line.scope)}">${escapeHtml(line.text)}</li>`)
    .join('\n');
  const organization = options.forOrganization
    ? `<p id="for-organization">If you accept, this app will get access to the specified resources for all users in ${escapeHtml(options.forOrganization)}. No one else will be prompted to review these permissions.</p>`
    : options.offerOrganization
      ? `<p><input id="consent-org" type="checkbox" name="consent_org" value="1"> <label for="consent-org" style="display:inline">Consent on behalf of your organization</label></p>`
      : '';
  return layout(
    'Permissions requested',
    `<h1>Permissions requested</h1>
<p class="muted">${escapeHtml(options.email)}</p>
<p><strong id="app-name">${escapeHtml(options.appName)}</strong></p>
<p>This app would like to:</p>
<ul id="permissions">
${items}
</ul>
${form(
  target,
  `${organization}
<p class="muted">Accepting these permissions means that you allow this app to use your data as specified in their terms of service and privacy statement.</p>
<button id="cancel" type="submit" name="action" value="cancel">Cancel</button>
<button id="accept" class="primary" type="submit" name="action" value="accept">Accept</button>`,
)}`,
  );
}

export function approvalPage(
  target: FormTarget,
  options: { appName: string; clientId: string; email: string; workflow: boolean; code: number },
): string {
  const request = options.workflow
    ? `<p>This app requires your admin's approval. Enter a justification and request approval.</p>
<label for="justification">Enter justification for requesting this app</label>
<textarea id="justification" name="justification" rows="4" maxlength="1000"></textarea>
<button id="request-approval" class="primary" type="submit" name="action" value="request-approval">Request approval</button>`
    : '<p>Please ask an admin to grant permission to this app before you can use it.</p>';
  return layout(
    'Need admin approval',
    `<h1>Need admin approval</h1>
<p class="muted">${escapeHtml(options.email)}</p>
<p><strong id="app-name">${escapeHtml(options.appName)}</strong></p>
<p id="approval-message" data-aadsts="${options.code}">${escapeHtml(options.appName)} needs permission to access resources in your organization that only an admin can grant.</p>
<p>App ID: <code id="client-id">${escapeHtml(options.clientId)}</code></p>
${form(
  target,
  `${request}
<p><button id="use-another" type="submit" name="action" value="use-another">Have an admin account? Sign in with that account</button></p>
<p><button id="back" type="submit" name="action" value="back">Return to the application without granting consent</button></p>`,
)}`,
  );
}

export function approvalSentPage(target: FormTarget, options: { appName: string }): string {
  return layout(
    'Request sent',
    `<h1>Request sent</h1>
<p id="request-sent">Your request for approval of ${escapeHtml(options.appName)} has been sent to your admin. You'll be notified when your admin reviews it.</p>
${form(target, '<button id="back" class="primary" type="submit" name="action" value="back">Return to the application</button>')}`,
  );
}

export function adminRequiredPage(
  target: FormTarget,
  options: { appName: string; email: string; tenantName: string },
): string {
  return layout(
    'Need admin approval',
    `<h1>You need an admin account</h1>
<p class="muted">${escapeHtml(options.email)}</p>
<p id="approval-message" data-aadsts="90094">${escapeHtml(options.appName)} needs permission to access resources in your organization that only an admin can grant. Sign in with an administrator account of ${escapeHtml(options.tenantName)} to grant it.</p>
${form(
  target,
  `<p><button id="use-another" class="primary" type="submit" name="action" value="use-another">Sign in with an admin account</button></p>
<p><button id="back" type="submit" name="action" value="back">Return to the application without granting consent</button></p>`,
)}`,
  );
}

/**
 * Microsoft's "Sorry, but we're having trouble signing you in" page: shown instead of redirecting when the
 * redirect target cannot be trusted, or when the signed-in account cannot use the app.
 */
export function errorPage(options: {
  code: number;
  message: string;
  traceId: string;
  correlationId: string;
  timestamp: string;
  /** Offers to sign in with another account in the same flow. */
  retry?: FormTarget;
}): string {
  const retry = options.retry
    ? form(
        options.retry,
        '<button id="use-another" type="submit" name="action" value="use-another">Sign in with a different account</button>',
      )
    : '';
  return layout(
    'Sign in to your account',
    `<h1>Sorry, but we're having trouble signing you in.</h1>
<p id="error-code" data-aadsts="${options.code}">AADSTS${options.code}</p>
<p id="error-message">AADSTS${options.code}: ${escapeHtml(options.message)}</p>
${retry}
<p class="muted">Troubleshooting details<br>Request Id: ${escapeHtml(options.traceId)}<br>Correlation Id: ${escapeHtml(options.correlationId)}<br>Timestamp: ${escapeHtml(options.timestamp)}</p>`,
  );
}

export function signedOutPage(): string {
  return layout(
    'Sign out',
    '<h1 id="signed-out">You signed out of your account</h1><p>It\'s a good idea to close all browser windows.</p>',
  );
}

export function errorLookupPage(code: number | null, message: string | null): string {
  return layout(
    'Error lookup',
    code === null
      ? '<h1>Error lookup</h1><p>Pass an AADSTS number as <code>?code=</code>.</p>'
      : `<h1>AADSTS${code}</h1><p id="error-message">${escapeHtml(message ?? 'No details are available for this error.')}</p>`,
  );
}

/**
 * `response_mode=form_post`: an HTML form that posts the answer to the app and submits itself, as Microsoft's
 * "Working..." page does. The inline script carries a CSP nonce.
 */
export function formPostPage(redirectUri: string, fields: Array<[string, string]>, nonce: string): string {
  const inputs = fields
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Working...</title></head>
<body>
<form method="post" name="hiddenform" action="${escapeHtml(redirectUri)}">
${inputs}
<noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit"></noscript>
</form>
<script nonce="${escapeHtml(nonce)}">document.forms[0].submit();</script>
</body></html>
`;
}
