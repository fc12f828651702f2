import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Clock } from '../platform/clock.js';
import { PlaintextSecret } from './secret-types.js';
import type { TokenVault, UnwrappedDataKey } from './token-vault.js';

/**
 * An account's tokens in the vault: sealed under the account's own data key (subject = account id) with the field
 * name as associated data, in `account_tokens`. Callers pass a transaction so the tokens change together with the
 * account row (a rotated refresh token is stored before the new access token is used; docs/engineering.md §8).
 */
export interface AccountTokens {
  accessToken: PlaintextSecret | null;
  refreshToken: PlaintextSecret;
}

export async function storeAccountTokens(
  trx: Kysely<Database>,
  vault: TokenVault,
  clock: Clock,
  accountId: string,
  tokens: AccountTokens,
  /** The account's data key, already unwrapped by the caller (a refresh read it with the account): no read here. */
  dataKey?: UnwrappedDataKey,
): Promise<void> {
  const fields = [
    ['refresh_token', tokens.refreshToken],
    ...(tokens.accessToken ? [['access_token', tokens.accessToken] as const] : []),
  ] as const;
  // Otherwise a refresh finds the data key in place (one read); a first connect creates it.
  const sealed =
    dataKey?.subjectId === accountId
      ? vault.sealWith(dataKey, fields)
      : await vault.sealFields(trx, accountId, fields, { createDataKeyIfMissing: true });
  const refreshToken = sealed[0]!;
  const accessToken = sealed[1] ?? null;
  const now = clock.now();
  await trx
    .insertInto('account_tokens')
    .values({ account_id: accountId, access_token: accessToken, refresh_token: refreshToken, updated_at: now })
    .onConflict((conflict) =>
      conflict
        .column('account_id')
        .doUpdateSet({ access_token: accessToken, refresh_token: refreshToken, updated_at: now }),
    )
    .execute();
}

/** The account's tokens, or undefined when it has none (never connected, or disconnected). */
export async function loadAccountTokens(
  db: Kysely<Database>,
  vault: TokenVault,
  accountId: string,
): Promise<AccountTokens | undefined> {
  const row = await db.selectFrom('account_tokens').selectAll().where('account_id', '=', accountId).executeTakeFirst();
  if (!row) return undefined;
  return {
    accessToken: row.access_token ? await vault.open(db, accountId, 'access_token', row.access_token) : null,
    refreshToken: await vault.open(db, accountId, 'refresh_token', row.refresh_token),
  };
}

/**
 * Crypto-shredding: deletes the sealed tokens and destroys the account's data key in the caller's transaction, so
 * the tokens are unrecoverable even from a backup taken afterwards that still holds old ciphertext.
 */
export async function destroyAccountTokens(trx: Kysely<Database>, vault: TokenVault, accountId: string): Promise<void> {
  await trx.deleteFrom('account_tokens').where('account_id', '=', accountId).execute();
  await vault.destroyDataKey(trx, accountId);
}

export { PlaintextSecret };
