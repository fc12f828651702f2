/**
 * The two permission profiles a connect session asks Microsoft for, and the check of what Microsoft granted.
 * @see docs/product.md §1; issue 3 item 3
 */

export const PERMISSION_PROFILES = ['send', 'warmup'] as const;
export type PermissionProfile = (typeof PERMISSION_PROFILES)[number];

/** The OpenID Connect scopes: sign-in, the id_token's `oid`/`tid` (profile), the address (email), a refresh token. */
const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'] as const;

/** Delegated Microsoft Graph permissions per profile (short names, as Microsoft returns them in `scope`). */
const GRAPH_SCOPES: Readonly<Record<PermissionProfile, readonly string[]>> = {
  // Least privilege: read the profile (identity + address) and send. No reading of mail.
  send: ['User.Read', 'Mail.Send'],
  // Warm-up reads and moves mail, and writes inbox rules (mailbox settings).
  warmup: ['User.Read', 'Mail.Send', 'Mail.ReadWrite', 'MailboxSettings.ReadWrite'],
};

export const GRAPH_RESOURCE = 'https://graph.microsoft.com';

export function isPermissionProfile(value: unknown): value is PermissionProfile {
  return typeof value === 'string' && (PERMISSION_PROFILES as readonly string[]).includes(value);
}

/** Everything the authorize request asks for: `openid profile email offline_access User.Read Mail.Send …`. */
export function requestedScopes(profile: PermissionProfile): string[] {
  return [...OIDC_SCOPES, ...GRAPH_SCOPES[profile]];
}

/** The Graph permissions alone (what an admin consents to; what the token response must list). */
export function graphScopes(profile: PermissionProfile): string[] {
  return [...GRAPH_SCOPES[profile]];
}

/**
 * What each permission means, in the words of Microsoft's consent screen (so the user recognises them), for the
 * approval page's justification text and for the dashboard's "permissions granted in plain words".
 */
export const PERMISSION_DESCRIPTIONS: Readonly<Record<string, string>> = {
  openid: 'Sign you in',
  profile: 'View your basic profile',
  email: 'View your email address',
  offline_access: 'Maintain access to data you have given it access to',
  'User.Read': 'Sign you in and read your profile',
  'Mail.Send': 'Send mail as you',
  'Mail.ReadWrite': 'Read and write access to your mail',
  'MailboxSettings.ReadWrite': 'Read and write to your mailbox settings',
};

/** The plain-words lines for a profile, as Microsoft's consent screen shows them (User.Read covers openid/profile). */
export function permissionLines(profile: PermissionProfile): string[] {
  const lines = [...GRAPH_SCOPES[profile], 'offline_access'].map((scope) => PERMISSION_DESCRIPTIONS[scope] ?? scope);
  return [...new Set(lines)];
}

/**
 * The scopes of a token response's `scope`, as short names: Microsoft may answer with full names
 * (`https://graph.microsoft.com/Mail.Send`) or short ones, in any case. @see docs/entra.md §1.4
 */
export function parseGrantedScopes(scope: string | undefined): string[] {
  if (!scope) return [];
  const out: string[] = [];
  for (const token of scope.split(/\s+/).filter(Boolean)) {
    const short = token.toLowerCase().startsWith(`${GRAPH_RESOURCE}/`) ? token.slice(GRAPH_RESOURCE.length + 1) : token;
    if (!out.some((existing) => existing.toLowerCase() === short.toLowerCase())) out.push(short);
  }
  return out;
}

/**
 * The permissions of `profile` that Microsoft did not grant. Only Graph permissions are read from `scope`:
 * Microsoft never lists `offline_access` there ([OBS] `"scope":"User.Read profile openid email"`), so that one is
 * judged by whether a refresh token came back; `openid`/`profile`/`email` are judged by the id_token itself.
 * Names compare case-insensitively, as Microsoft treats them.
 */
export function missingPermissions(
  profile: PermissionProfile,
  granted: { scope: string | undefined; refreshTokenIssued: boolean },
): string[] {
  const have = parseGrantedScopes(granted.scope).map((scope) => scope.toLowerCase());
  const missing = GRAPH_SCOPES[profile].filter((scope) => !have.includes(scope.toLowerCase()));
  if (!granted.refreshTokenIssued) missing.push('offline_access');
  return missing;
}
