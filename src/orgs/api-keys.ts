import { createHash, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AccountWithOwner } from '../accounts/account-view.js';
import type { Database } from '../db/schema.js';
import { StatementTemplate } from '../db/statement-template.js';
import type { ApiKeysTable } from '../db/tables/accounts.js';
import { AppError } from '../errors/app-error.js';
import { type Clock, isoTime, isoTimeOrNull } from '../platform/clock.js';
import { newId, randomToken } from '../platform/ids.js';

/**
 * API keys: `mb_live_` + 32 random bytes in base64url (43 characters). Shown once at creation; at rest only the
 * SHA-256 of the whole key (a 256-bit random secret needs no slow KDF: nothing to brute-force) and a short prefix so
 * people can tell keys apart in lists.
 */
export const API_KEY_PREFIX = 'mb_live_';
const API_KEY_PATTERN = /^mb_live_[A-Za-z0-9_-]{43}$/;
/** Characters of the key kept in clear: `mb_live_` + 6 of the random part (36 of its 256 bits). */
const DISPLAY_PREFIX_LENGTH = API_KEY_PREFIX.length + 6;
/** `last_used_at` is written at most this often per key, so a busy key does not turn every request into a write. */
export const LAST_USED_WRITE_INTERVAL_MS = 60_000;

export interface CreatedApiKey {
  id: string;
  /** The whole key: shown to its creator once, never stored or logged. */
  key: string;
  prefix: string;
}

/**
 * What a key may do: `standard` keys use the host API; `admin` keys may also list, create and revoke the
 * organisation's API keys (a leaked standard key cannot mint or revoke others).
 */
export const API_KEY_SCOPES = ['standard', 'admin'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export const API_KEY_STATUSES = ['active', 'revoked', 'expired'] as const;
export type ApiKeyStatus = (typeof API_KEY_STATUSES)[number];

export interface ApiKeyAuth {
  organizationId: string;
  apiKeyId: string;
  scope: ApiKeyScope;
}

export interface ApiKeySummary {
  id: string;
  name: string;
  prefix: string;
  scope: ApiKeyScope;
  status: ApiKeyStatus;
  createdAt: string;
  createdBy: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
}

export interface NewApiKeyOptions {
  scope?: ApiKeyScope;
  /** Epoch milliseconds after which the key is refused; must lie in the future. */
  expiresAt?: number | null;
  /** Who asked for it: `cli`, `dashboard:<email>`, `api:<key id>`. */
  createdBy?: string;
}

export async function createApiKey(
  db: Kysely<Database>,
  clock: Clock,
  organizationId: string,
  name: string,
  options: NewApiKeyOptions = {},
): Promise<CreatedApiKey> {
  const label = name.trim();
  if (label.length === 0 || label.length > 200) {
    throw new AppError('API_KEY_NAME_INVALID', 'An API key name is 1 to 200 characters.', { status: 400 });
  }
  const expiresAt = options.expiresAt ?? null;
  if (expiresAt !== null && expiresAt <= clock.now()) {
    throw new AppError('API_KEY_EXPIRY_INVALID', 'An API key expiry must lie in the future.', { status: 400 });
  }
  const key = `${API_KEY_PREFIX}${randomToken(32)}`;
  const id = newId('key', clock);
  const prefix = key.slice(0, DISPLAY_PREFIX_LENGTH);
  await db
    .insertInto('api_keys')
    .values({
      id,
      organization_id: organizationId,
      name: label,
      key_prefix: prefix,
      key_hash: hashApiKey(key),
      created_at: clock.now(),
      last_used_at: null,
      revoked_at: null,
      scope: options.scope ?? 'standard',
      expires_at: expiresAt,
      created_by: options.createdBy ?? 'cli',
    })
    .execute();
  return { id, key, prefix };
}

/** Every API request reads its key (a revocation takes effect on the next request): a template (issue 14). */
const apiKeyByHash = new StatementTemplate((db, slots: { hash: string }) =>
  db
    .selectFrom('api_keys')
    .select(['id', 'organization_id', 'key_hash', 'last_used_at', 'revoked_at', 'expires_at', 'scope'])
    .where('key_hash', '=', slots.hash),
);

/**
 * The key's row and, in the same statement, the account a request names when the key's organisation has it (the
 * join is on the key's organisation, so another organisation's account reads as none). The accept path reads both
 * on every message: one round trip instead of two (issue 14).
 */
const apiKeyAndAccountByHash = new StatementTemplate((db, slots: { hash: string; accountId: string }) =>
  db
    .selectFrom('api_keys')
    .leftJoin('accounts', (join) =>
      join.on('accounts.id', '=', slots.accountId).onRef('accounts.organization_id', '=', 'api_keys.organization_id'),
    )
    .leftJoin('owners', 'owners.id', 'accounts.owner_id')
    .select([
      'api_keys.id as key_id',
      'api_keys.organization_id as key_organization_id',
      'api_keys.key_hash as key_hash',
      'api_keys.last_used_at as key_last_used_at',
      'api_keys.revoked_at as key_revoked_at',
      'api_keys.expires_at as key_expires_at',
      'api_keys.scope as key_scope',
    ])
    .selectAll('accounts')
    .select('owners.external_id as owner_external_id')
    .where('api_keys.key_hash', '=', slots.hash),
);

type KeyRow = Pick<
  ApiKeysTable,
  'id' | 'organization_id' | 'key_hash' | 'last_used_at' | 'revoked_at' | 'expires_at' | 'scope'
>;

/**
 * The organisation a presented key belongs to, or undefined for anything that is not a live key. The lookup is by
 * the key's SHA-256, so the time it takes says nothing about how much of a guess was right; the stored hash is
 * compared again in constant time so a database collation could never make two different hashes equal.
 */
export async function authenticateApiKey(
  db: Kysely<Database>,
  clock: Clock,
  presented: string,
): Promise<ApiKeyAuth | undefined> {
  const hash = hashOfWellFormed(presented);
  if (hash === undefined) return undefined;
  return acceptedKey(db, clock, hash, await apiKeyByHash.firstRow(db, { hash }));
}

/**
 * `authenticateApiKey` for a request about one account: also the account (with its owner's external id) when the
 * key's organisation has it, read in the key's statement. `account` is undefined when the organisation has no such
 * account; the whole answer is undefined when the key is not live (then nothing about the account is told).
 */
export async function authenticateApiKeyWithAccount(
  db: Kysely<Database>,
  clock: Clock,
  presented: string,
  accountId: string,
): Promise<{ auth: ApiKeyAuth; account: AccountWithOwner | undefined } | undefined> {
  const hash = hashOfWellFormed(presented);
  if (hash === undefined) return undefined;
  const row = await apiKeyAndAccountByHash.firstRow(db, { hash, accountId });
  if (!row) return undefined;
  const {
    key_id: id,
    key_organization_id: organization_id,
    key_hash,
    key_last_used_at: last_used_at,
    key_revoked_at: revoked_at,
    key_expires_at: expires_at,
    key_scope: scope,
    ...account
  } = row;
  const auth = await acceptedKey(db, clock, hash, {
    id,
    organization_id,
    key_hash,
    last_used_at,
    revoked_at,
    expires_at,
    scope,
  });
  if (!auth) return undefined;
  // A left join's columns are all null when it found no account.
  return { auth, account: account.id === null ? undefined : (account as AccountWithOwner) };
}

function hashOfWellFormed(presented: string): string | undefined {
  return API_KEY_PATTERN.test(presented) ? hashApiKey(presented) : undefined;
}

/** The key's authentication when `row` (read by `hash`) is a live key with that very hash. */
async function acceptedKey(
  db: Kysely<Database>,
  clock: Clock,
  hash: string,
  row: KeyRow | undefined,
): Promise<ApiKeyAuth | undefined> {
  const now = clock.now();
  if (!row || statusOf(row, now) !== 'active') return undefined;
  const stored = Buffer.from(row.key_hash);
  const computed = Buffer.from(hash);
  if (stored.length !== computed.length || !timingSafeEqual(stored, computed)) return undefined;
  if (row.last_used_at === null || now - Number(row.last_used_at) >= LAST_USED_WRITE_INTERVAL_MS) {
    // Conditional, so concurrent requests of one key write once per interval.
    await db
      .updateTable('api_keys')
      .set({ last_used_at: now })
      .where('id', '=', row.id)
      .where((eb) =>
        eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<=', now - LAST_USED_WRITE_INTERVAL_MS)]),
      )
      .execute();
  }
  return { organizationId: row.organization_id, apiKeyId: row.id, scope: scopeOf(row.scope) };
}

/**
 * Revokes a key of the organisation and answers its summary, or undefined when the organisation has no such key.
 * Revoking a revoked key changes nothing (its first revocation time stays). Every process checks the database on
 * each request (`authenticateApiKey`), so a revocation takes effect at once everywhere.
 */
export async function revokeApiKey(
  db: Kysely<Database>,
  clock: Clock,
  organizationId: string,
  apiKeyId: string,
): Promise<ApiKeySummary | undefined> {
  await db
    .updateTable('api_keys')
    .set({ revoked_at: clock.now() })
    .where('id', '=', apiKeyId)
    .where('organization_id', '=', organizationId)
    .where('revoked_at', 'is', null)
    .execute();
  const row = await summaryQuery(db, organizationId).where('id', '=', apiKeyId).executeTakeFirst();
  return row && toSummary(row, clock.now());
}

/** The organisation's keys, oldest first, revoked and expired ones included (never the secret). */
export async function listApiKeys(
  db: Kysely<Database>,
  clock: Clock,
  organizationId: string,
): Promise<ApiKeySummary[]> {
  const rows = await summaryQuery(db, organizationId).orderBy('id', 'asc').execute();
  const now = clock.now();
  return rows.map((row) => toSummary(row, now));
}

/** One key of the organisation, or undefined. */
export async function findApiKey(
  db: Kysely<Database>,
  clock: Clock,
  organizationId: string,
  apiKeyId: string,
): Promise<ApiKeySummary | undefined> {
  const row = await summaryQuery(db, organizationId).where('id', '=', apiKeyId).executeTakeFirst();
  return row && toSummary(row, clock.now());
}

function summaryQuery(db: Kysely<Database>, organizationId: string) {
  return db
    .selectFrom('api_keys')
    .select([
      'id',
      'name',
      'key_prefix',
      'scope',
      'created_at',
      'created_by',
      'last_used_at',
      'expires_at',
      'revoked_at',
    ])
    .where('organization_id', '=', organizationId);
}

type SummaryRow = Awaited<ReturnType<ReturnType<typeof summaryQuery>['executeTakeFirstOrThrow']>>;

function toSummary(row: SummaryRow, now: number): ApiKeySummary {
  return {
    id: row.id,
    name: row.name,
    prefix: row.key_prefix,
    scope: scopeOf(row.scope),
    status: statusOf(row, now),
    createdAt: isoTime(row.created_at),
    createdBy: row.created_by,
    lastUsedAt: isoTimeOrNull(row.last_used_at),
    expiresAt: isoTimeOrNull(row.expires_at),
    revokedAt: isoTimeOrNull(row.revoked_at),
  };
}

function statusOf(row: { revoked_at: number | null; expires_at: number | null }, now: number): ApiKeyStatus {
  if (row.revoked_at !== null) return 'revoked';
  if (row.expires_at !== null && now >= Number(row.expires_at)) return 'expired';
  return 'active';
}

/** Anything but a known scope reads as the narrower one (fail closed). */
function scopeOf(value: string): ApiKeyScope {
  return value === 'admin' ? 'admin' : 'standard';
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('base64url');
}
