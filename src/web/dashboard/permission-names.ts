import { PERMISSION_DESCRIPTIONS } from '../../connect/permission-profiles.js';

/**
 * Granted permissions in the words of Microsoft's consent screen (the connect flow's table, which the emulator's
 * consent page matches), so the dashboard says exactly what the user agreed to.
 * @see docs/graph.md §3.1 (permissions: "Consent display name")
 */
const CONSENT_WORDS: ReadonlyMap<string, string> = new Map(
  Object.entries(PERMISSION_DESCRIPTIONS).map(([scope, words]) => [scope.toLowerCase(), words]),
);

/** Order of the consent screen: what the app can do with the mailbox first, the sign-in scopes last. */
const ORDER = [
  'mail.send',
  'mail.readwrite',
  'mailboxsettings.readwrite',
  'user.read',
  'offline_access',
  'openid',
  'profile',
  'email',
];

export interface PermissionLine {
  /** The scope as granted (`Mail.Send`), for people who know the names. */
  scope: string;
  /** The consent screen's words, or the scope itself for one we have no words for. */
  words: string;
}

/**
 * The granted scopes in plain words. Scopes arrive as Microsoft returns them, possibly as full URIs
 * (`https://graph.microsoft.com/Mail.Send`); the Graph resource prefix is dropped and case ignored.
 */
export function describePermissions(scopes: readonly string[]): PermissionLine[] {
  const lines = scopes
    .map((scope) => {
      const short = scope.replace(/^https:\/\/graph\.microsoft\.com\//i, '');
      return { scope: short, key: short.toLowerCase() };
    })
    .filter((entry, index, all) => all.findIndex((other) => other.key === entry.key) === index);
  const rank = (key: string) => {
    const index = ORDER.indexOf(key);
    return index === -1 ? ORDER.length : index;
  };
  return lines
    .sort((a, b) => rank(a.key) - rank(b.key) || a.key.localeCompare(b.key))
    .map(({ scope, key }) => ({ scope, words: CONSENT_WORDS.get(key) ?? scope }));
}
