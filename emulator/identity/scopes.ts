import type { EmulatorContext } from '../context.js';
import type { AppRegistration } from '../state/model.js';

/** The OpenID Connect scopes; Microsoft treats them as Graph permissions anyone may consent to. */
export const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'] as const;

const GRAPH_PUBLIC_ORIGIN = 'https://graph.microsoft.com';
const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';

interface ScopeInfo {
  /** What the consent page says, in Microsoft's words for the delegated permission. */
  consentText: string;
  /** Microsoft marks these "admin consent required": an ordinary work user can never grant them. */
  adminOnly: boolean;
}

/**
 * Delegated permissions the emulator knows, with the user-facing consent texts of Microsoft Graph
 * ([SRC] microsoftgraph/msgraph-metadata permissions). Names are matched case-insensitively, as Microsoft does.
 */
const CATALOG: Record<string, ScopeInfo> = {
  openid: { consentText: 'Sign you in', adminOnly: false },
  profile: { consentText: 'View your basic profile', adminOnly: false },
  email: { consentText: 'View your email address', adminOnly: false },
  offline_access: { consentText: 'Maintain access to data you have given it access to', adminOnly: false },
  'User.Read': { consentText: 'Sign you in and read your profile', adminOnly: false },
  'User.ReadWrite': { consentText: 'Read and update your profile', adminOnly: false },
  'User.ReadBasic.All': { consentText: "Read all users' basic profiles", adminOnly: false },
  'User.Read.All': { consentText: "Read all users' full profiles", adminOnly: true },
  'Directory.Read.All': { consentText: 'Read directory data', adminOnly: true },
  'Mail.Read': { consentText: 'Read your mail', adminOnly: false },
  'Mail.ReadBasic': { consentText: 'Read user basic mail', adminOnly: false },
  'Mail.ReadWrite': { consentText: 'Read and write access to your mail', adminOnly: false },
  'Mail.Send': { consentText: 'Send mail as you', adminOnly: false },
  'Mail.Read.Shared': { consentText: 'Read mail you can access', adminOnly: false },
  'Mail.ReadWrite.Shared': { consentText: 'Read and write mail you can access', adminOnly: false },
  'Mail.Send.Shared': { consentText: 'Send mail on behalf of others or yourself', adminOnly: false },
  'MailboxSettings.Read': { consentText: 'Read your mailbox settings', adminOnly: false },
  'MailboxSettings.ReadWrite': { consentText: 'Read and write to your mailbox settings', adminOnly: false },
  'Contacts.Read': { consentText: 'Read your contacts', adminOnly: false },
  'Contacts.ReadWrite': { consentText: 'Have full access to your contacts', adminOnly: false },
  'Calendars.Read': { consentText: 'Read your calendars', adminOnly: false },
  'Calendars.ReadWrite': { consentText: 'Have full access to your calendars', adminOnly: false },
};

const BY_LOWER = new Map(Object.keys(CATALOG).map((name) => [name.toLowerCase(), name]));

export type ScopeParseResult =
  | { ok: true; scopes: string[]; usedDefault: boolean }
  | { ok: false; reason: 'invalid' | 'defaultCombined'; scope: string };

/**
 * Parses a `scope` parameter into short names (`Mail.Send`, `offline_access`), in request order, without
 * duplicates. Accepts short names and Graph's full names (`https://graph.microsoft.com/Mail.Send`, also under the
 * emulator's Graph origin or Graph's app id); `/.default` becomes the app's statically configured permissions.
 */
export function parseScopes(ctx: EmulatorContext, raw: string, app: AppRegistration): ScopeParseResult {
  const out: string[] = [];
  let usedDefault = false;
  let resourceScopeNamed = false;
  const prefixes = [`${GRAPH_PUBLIC_ORIGIN}/`, `${GRAPH_APP_ID}/`];
  if (ctx.urls.graph && ctx.urls.graph !== GRAPH_PUBLIC_ORIGIN) prefixes.push(`${ctx.urls.graph}/`);
  const add = (scope: string) => {
    if (!out.some((existing) => existing.toLowerCase() === scope.toLowerCase())) out.push(scope);
  };
  for (const token of raw.split(/\s+/).filter(Boolean)) {
    let name = token;
    const prefix = prefixes.find((candidate) => token.toLowerCase().startsWith(candidate.toLowerCase()));
    if (prefix) name = token.slice(prefix.length);
    else if (token.includes('/') && token !== '.default') return { ok: false, reason: 'invalid', scope: token };
    if (name.toLowerCase() === '.default') {
      usedDefault = true;
      for (const scope of app.requiredScopes) add(BY_LOWER.get(scope.toLowerCase()) ?? scope);
      continue;
    }
    const canonical = BY_LOWER.get(name.toLowerCase());
    if (!canonical) return { ok: false, reason: 'invalid', scope: token };
    if (!isOidcScope(canonical)) resourceScopeNamed = true;
    add(canonical);
  }
  if (usedDefault && resourceScopeNamed) return { ok: false, reason: 'defaultCombined', scope: raw.trim() };
  return { ok: true, scopes: out, usedDefault };
}

export function isOidcScope(scope: string): boolean {
  return (OIDC_SCOPES as readonly string[]).includes(scope.toLowerCase());
}

export function hasScope(scopes: readonly string[], wanted: string): boolean {
  return scopes.some((scope) => scope.toLowerCase() === wanted.toLowerCase());
}

/** Scopes in `wanted` that `granted` does not cover (case-insensitive). */
export function missingScopes(wanted: readonly string[], granted: readonly string[]): string[] {
  return wanted.filter((scope) => !hasScope(granted, scope));
}

export function unionScopes(a: readonly string[], b: readonly string[]): string[] {
  return [...a, ...missingScopes(b, a)];
}

export function isAdminOnlyScope(scope: string): boolean {
  const canonical = BY_LOWER.get(scope.toLowerCase());
  return canonical ? CATALOG[canonical]!.adminOnly : false;
}

/**
 * The consent page's lines, one per permission. "Sign you in and read your profile" (User.Read) already says
 * what `openid` and `profile` would, so those two are not repeated next to it, as on Microsoft's page.
 */
export function consentLines(scopes: readonly string[]): Array<{ scope: string; text: string }> {
  const userRead = hasScope(scopes, 'User.Read');
  return scopes
    .filter((scope) => !(userRead && (scope === 'openid' || scope === 'profile')))
    .map((scope) => ({ scope, text: CATALOG[scope]?.consentText ?? scope }));
}

/**
 * The `scope` value of a token response. Graph permissions come back as short names and the OIDC scopes as
 * `profile openid email` (whenever `openid` was granted); `offline_access` is never listed
 * ([OBS] `"scope":"User.Read profile openid email"` for a request of `openid profile offline_access User.Read`).
 */
export function tokenResponseScopes(granted: readonly string[]): string[] {
  const resource = granted.filter((scope) => !isOidcScope(scope));
  return hasScope(granted, 'openid') ? [...resource, 'profile', 'openid', 'email'] : resource;
}

/** Full names as the v2 admin consent endpoint echoes them: `https://graph.microsoft.com/Mail.Send`. */
export function fullScopeNames(scopes: readonly string[]): string[] {
  return scopes.map((scope) => (isOidcScope(scope) ? scope : `${GRAPH_PUBLIC_ORIGIN}/${scope}`));
}
