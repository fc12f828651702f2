import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { OrganizationsTable } from '../db/tables/accounts.js';
import { AppError } from '../errors/app-error.js';
import type { Clock } from '../platform/clock.js';
import { newId } from '../platform/ids.js';

/**
 * Organisations: the tenants of mailbridge. Every API key, owner, account, connect session and event belongs to
 * exactly one, and nothing crosses from one to another. Each organisation keeps the allow-list of URLs a connect
 * session may send the browser back to (no open redirects).
 */
export interface Organization {
  id: string;
  name: string;
  /** URL prefixes (origin + path) a connect session may return to. See `isReturnUrlAllowed`. */
  allowedReturnUrls: string[];
  createdAt: string;
}

/** The organisation the dashboard works in. Its id is fixed so that concurrent first starts create it once. */
export const DEFAULT_ORGANIZATION_ID = 'org_default';
export const DEFAULT_ORGANIZATION_NAME = 'Default';

/** Longest allow-list we accept: it is matched on every connect session. */
export const MAX_ALLOWED_RETURN_URLS = 50;
const MAX_NAME_LENGTH = 200;
const MAX_URL_LENGTH = 2048;

export function toOrganization(row: OrganizationsTable): Organization {
  return {
    id: row.id,
    name: row.name,
    allowedReturnUrls: parseAllowList(row.allowed_return_urls),
    createdAt: new Date(Number(row.created_at)).toISOString(),
  };
}

/** The dashboard's organisation, created (race-safe, on both dialects) on first call. */
export async function ensureDefaultOrganization(db: Kysely<Database>, clock: Clock): Promise<Organization> {
  await db
    .insertInto('organizations')
    .values({
      id: DEFAULT_ORGANIZATION_ID,
      name: DEFAULT_ORGANIZATION_NAME,
      allowed_return_urls: '[]',
      created_at: clock.now(),
    })
    .onConflict((conflict) => conflict.column('id').doNothing())
    .execute();
  return findOrganizationOrThrow(db, DEFAULT_ORGANIZATION_ID);
}

export async function createOrganization(
  db: Kysely<Database>,
  clock: Clock,
  input: { name: string; allowedReturnUrls?: readonly string[] },
): Promise<Organization> {
  const name = normalizeOrganizationNameOrThrow(input.name);
  const allowed = normalizeAllowListOrThrow(input.allowedReturnUrls ?? []);
  const row: OrganizationsTable = {
    id: newId('org', clock),
    name,
    allowed_return_urls: JSON.stringify(allowed),
    created_at: clock.now(),
  };
  await db.insertInto('organizations').values(row).execute();
  return toOrganization(row);
}

export async function getOrganization(db: Kysely<Database>, id: string): Promise<Organization | undefined> {
  const row = await db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toOrganization(row) : undefined;
}

export async function findOrganizationOrThrow(db: Kysely<Database>, id: string): Promise<Organization> {
  const organization = await getOrganization(db, id);
  if (!organization) throw new AppError('ORG_NOT_FOUND', `No organisation ${id}.`, { status: 404 });
  return organization;
}

/** Organisations with exactly this name, oldest first (names are labels, not keys: they may repeat). */
export async function findOrganizationsByName(db: Kysely<Database>, name: string): Promise<Organization[]> {
  const rows = await db
    .selectFrom('organizations')
    .selectAll()
    .where('name', '=', name)
    .orderBy('created_at', 'asc')
    .orderBy('id', 'asc')
    .execute();
  return rows.map(toOrganization);
}

/** Changes an organisation's name and/or return-URL allow-list (the whole list is replaced). */
export async function updateOrganization(
  db: Kysely<Database>,
  id: string,
  changes: { name?: string; allowedReturnUrls?: readonly string[] },
): Promise<Organization> {
  const set: Partial<OrganizationsTable> = {};
  if (changes.name !== undefined) set.name = normalizeOrganizationNameOrThrow(changes.name);
  if (changes.allowedReturnUrls !== undefined) {
    set.allowed_return_urls = JSON.stringify(normalizeAllowListOrThrow(changes.allowedReturnUrls));
  }
  if (Object.keys(set).length > 0) {
    await db.updateTable('organizations').set(set).where('id', '=', id).execute();
  }
  return findOrganizationOrThrow(db, id);
}

function normalizeOrganizationNameOrThrow(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_NAME_LENGTH || hasControlCharacters(trimmed)) {
    throw new AppError('ORG_NAME_INVALID', `An organisation name is 1 to ${MAX_NAME_LENGTH} printable characters.`, {
      status: 400,
    });
  }
  return trimmed;
}

// ---------------------------------------------------------------------------------------------------------------
// Return URLs: where the hosted connect flow may send the browser when it ends. An open redirect there would let
// anyone craft a link through our domain (and, after a sign-in at Microsoft, look trustworthy), so a return URL
// must match an entry of the organisation's allow-list exactly by origin and by path prefix at a segment boundary.
// @see docs/standards.md §6
// ---------------------------------------------------------------------------------------------------------------

/** What `isReturnUrlAllowed` needs of an organisation: the view, or its database row. */
export type ReturnUrlPolicy = Pick<Organization, 'allowedReturnUrls'> | Pick<OrganizationsTable, 'allowed_return_urls'>;

/**
 * Whether `url` may be used as a connect session's return URL for this organisation: an absolute `https:` URL (or
 * `http:` for a loopback host), written plainly (no backslashes, whitespace, control characters, userinfo), whose
 * origin equals an allow-list entry's origin and whose path starts with the entry's path at a segment boundary
 * (`https://app.example.com/connected` allows `/connected` and `/connected/x`, not `/connected-evil`). Query and
 * fragment are free. `http://localhost` and `http://127.0.0.1` are allowed only when listed, like any other origin.
 */
export function isReturnUrlAllowed(organization: ReturnUrlPolicy, url: string): boolean {
  const candidate = parsePlainUrl(url);
  if (!candidate) return false;
  const allowList =
    'allowedReturnUrls' in organization
      ? organization.allowedReturnUrls
      : parseAllowList(organization.allowed_return_urls);
  return allowList.some((entry) => {
    const allowed = parsePlainUrl(entry);
    if (!allowed || allowed.origin !== candidate.origin) return false;
    return pathHasPrefix(candidate.pathname, allowed.pathname);
  });
}

/**
 * Parses `value` as an absolute http(s) URL typed the plain way, or returns undefined. WHATWG URL parsing is lenient
 * (it turns `https:\\evil.example` and `https:/evil.example` into `https://evil.example/`, strips tabs and newlines,
 * accepts `user@host`), and browsers are just as lenient, so anything a browser might read differently from us is
 * refused rather than normalised.
 */
function parsePlainUrl(value: string): URL | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_URL_LENGTH) return undefined;
  if (value.includes('\\') || /\s/.test(value) || hasControlCharacters(value)) return undefined;
  // Scheme, then exactly two slashes, then a host that does not start with another slash (`https:///evil`).
  const match = /^(https?):\/\/([^/?#]+)/i.exec(value);
  if (!match?.[2]) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return undefined;
  if (parsed.username !== '' || parsed.password !== '' || match[2].includes('@')) return undefined;
  if (parsed.hostname === '') return undefined;
  if (parsed.protocol === 'http:' && !isLoopbackHost(parsed.hostname)) return undefined;
  return parsed;
}

function pathHasPrefix(path: string, prefix: string): boolean {
  if (prefix === '/' || prefix === '') return true;
  if (prefix.endsWith('/')) return path.startsWith(prefix);
  return path === prefix || path.startsWith(`${prefix}/`);
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/**
 * Validates and normalises an allow-list: each entry an absolute https URL (http only for localhost / 127.x /
 * [::1]), no userinfo, no query or fragment (an entry is an origin + path prefix), no duplicates.
 */
export function normalizeAllowListOrThrow(entries: readonly string[]): string[] {
  if (entries.length > MAX_ALLOWED_RETURN_URLS) {
    throw new AppError(
      'ORG_RETURN_URLS_TOO_MANY',
      `An organisation may allow at most ${MAX_ALLOWED_RETURN_URLS} return URLs.`,
      { status: 400 },
    );
  }
  const out: string[] = [];
  entries.forEach((entry, index) => {
    const parsed = parsePlainUrl(entry);
    if (parsed === undefined || parsed.search !== '' || parsed.hash !== '' || /[?#]/.test(entry)) {
      throw new AppError(
        'ORG_RETURN_URL_INVALID',
        'An allowed return URL is an absolute https URL (http only for localhost, 127.0.0.1 or [::1]) with an ' +
          'origin and an optional path, without user name, password, query or fragment: e.g. ' +
          '"https://app.example.com/mailbridge/done".',
        { status: 400, details: { index, value: entry.slice(0, 200) } },
      );
    }
    const normalized = parsed.href;
    if (!out.includes(normalized)) out.push(normalized);
  });
  return out;
}

function parseAllowList(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((entry): entry is string => typeof entry === 'string') : [];
  } catch {
    // A corrupt allow-list allows nothing: failing closed is the safe reading for a redirect check.
    return [];
  }
}

/** C0 controls and DEL (a regex literal for them trips Biome's noControlCharactersInRegex). */
export function hasControlCharacters(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code <= 0x1f || code === 0x7f) return true;
  }
  return false;
}
