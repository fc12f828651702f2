import { createHash, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors/app-error.js';
import type { Clock } from '../platform/clock.js';
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

export interface ApiKeyAuth {
  organizationId: string;
  apiKeyId: string;
}

export interface ApiKeySummary {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export async function createApiKey(
  db: Kysely<Database>,
  clock: Clock,
  organizationId: string,
  name: string,
): Promise<CreatedApiKey> {
  const label = name.trim();
  if (label.length === 0 || label.length > 200) {
    throw new AppError('API_KEY_NAME_INVALID', 'An API key name is 1 to 200 characters.', { status: 400 });
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
    })
    .execute();
  return { id, key, prefix };
}

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
  if (!API_KEY_PATTERN.test(presented)) return undefined;
  const hash = hashApiKey(presented);
  const row = await db
    .selectFrom('api_keys')
    .select(['id', 'organization_id', 'key_hash', 'last_used_at', 'revoked_at'])
    .where('key_hash', '=', hash)
    .executeTakeFirst();
  if (!row || row.revoked_at !== null) return undefined;
  const stored = Buffer.from(row.key_hash);
  const computed = Buffer.from(hash);
  if (stored.length !== computed.length || !timingSafeEqual(stored, computed)) return undefined;
  const now = clock.now();
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
  return { organizationId: row.organization_id, apiKeyId: row.id };
}

/** Revokes a key of the organisation. Returns false when the organisation has no such key (or it was revoked). */
export async function revokeApiKey(
  db: Kysely<Database>,
  clock: Clock,
  organizationId: string,
  apiKeyId: string,
): Promise<boolean> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: clock.now() })
    .where('id', '=', apiKeyId)
    .where('organization_id', '=', organizationId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function listApiKeys(db: Kysely<Database>, organizationId: string): Promise<ApiKeySummary[]> {
  const rows = await db
    .selectFrom('api_keys')
    .select(['id', 'name', 'key_prefix', 'created_at', 'last_used_at', 'revoked_at'])
    .where('organization_id', '=', organizationId)
    .orderBy('id', 'asc')
    .execute();
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    prefix: row.key_prefix,
    createdAt: iso(row.created_at),
    lastUsedAt: row.last_used_at === null ? null : iso(row.last_used_at),
    revokedAt: row.revoked_at === null ? null : iso(row.revoked_at),
  }));
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('base64url');
}

function iso(epochMs: number): string {
  return new Date(Number(epochMs)).toISOString();
}
