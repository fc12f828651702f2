import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.js';
import { RowTemplates, StatementTemplate } from '../db/statement-template.js';
import type { AccountsTable } from '../db/tables/accounts.js';
import type { SealedSecret } from '../vault/secret-types.js';
import { REFRESH_LEASE_RELEASED_CHANNEL } from './refresh-lease.js';

/**
 * The common end of a successful refresh, written without reading first (issue 14: each statement is a round trip
 * on PostgreSQL, and the read, the token upsert, the account update, BEGIN, COMMIT and the lease's release were six).
 *
 * It applies only when nothing but the new tokens and the lifecycle columns has to change: the account is
 * `connected` with no failed refresh counted (no health to record, no `account.refresh_failing` alert to resolve),
 * no `app.misconfigured` alert is open (none to resolve), the account still has its token row and still has the data
 * key the new tokens were sealed with (not disconnected and reconnected meanwhile). Otherwise it changes nothing and
 * says so, and the caller writes the outcome the general way (`AccessTokenProvider`'s `#applyOutcome`), which reads
 * the account under a lock and decides. Both write the rotated refresh token and the new access token together, in
 * one transaction, before the access token is handed out (docs/engineering.md §8).
 */
export interface RefreshedTokens {
  accountId: string;
  /** The data key both tokens were sealed with: the account must still have it. */
  dataKeyId: string;
  accessToken: SealedSecret;
  refreshToken: SealedSecret;
  now: number;
  /** The lifecycle columns of the account after the grant. */
  columns: Pick<
    AccountsTable,
    'last_refreshed_at' | 'access_token_expires_at' | 'next_keepalive_at' | 'refresh_failures' | 'refresh_retry_at'
  > &
    Partial<Pick<AccountsTable, 'refresh_token_issued_at'>>;
}

/**
 * SQLite, in the caller's transaction (SQLite serialises writers, so the account cannot change between the two
 * statements): the token row, on the conditions above, then the account. Two statements where the general way
 * runs three (a read, the upsert, the update).
 */
export async function storeRefreshedTokensIfPlain(trx: Kysely<Database>, tokens: RefreshedTokens): Promise<boolean> {
  const { accountId, now } = tokens;
  const stored = await plainTokenUpdate.firstRow(trx, {
    accountId,
    dataKeyId: tokens.dataKeyId,
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    now,
  });
  if (!stored) return false;
  const account = { ...tokens.columns, updated_at: now, id: accountId };
  await lifecycleUpdates.of(account).changedRows(trx, account);
  return true;
}

/** `storeRefreshedTokensIfPlain`'s statements run once per refresh: templates (src/db/statement-template.ts). */
const plainTokenUpdate = new StatementTemplate(
  (
    db,
    slots: { accountId: string; dataKeyId: string; accessToken: SealedSecret; refreshToken: SealedSecret; now: number },
  ) =>
    db
      .updateTable('account_tokens')
      .set({ access_token: slots.accessToken, refresh_token: slots.refreshToken, updated_at: slots.now })
      .where('account_id', '=', slots.accountId)
      .where((eb) =>
        eb.and([
          eb.exists(
            eb
              .selectFrom('accounts')
              .select('id')
              .where('id', '=', slots.accountId)
              .where('status', '=', 'connected')
              .where('refresh_failures', '=', 0),
          ),
          eb.exists(
            eb
              .selectFrom('vault_data_keys')
              .select('subject_id')
              .where('subject_id', '=', slots.accountId)
              .where('data_key_id', '=', slots.dataKeyId),
          ),
          eb.not(
            eb.exists(
              eb
                .selectFrom('operator_alerts')
                .select('id')
                .where('kind', '=', 'app.misconfigured')
                .where('resolved_at', 'is', null),
            ),
          ),
        ]),
      )
      .returning('account_id'),
);

/** The account's lifecycle columns (one template per set: `refresh_token_issued_at` is there only when it moved). */
const lifecycleUpdates = new RowTemplates(
  (db, { id, ...columns }: RefreshedTokens['columns'] & Pick<AccountsTable, 'id' | 'updated_at'>) =>
    db.updateTable('accounts').set(columns).where('id', '=', id),
);

/**
 * PostgreSQL, one statement (its own transaction): locks the account row on the conditions above (the lock a
 * disconnect takes first too, so one of them waits for the other; a disconnect that committed meanwhile changed the
 * row's status, which the lock's re-check sees), stores the tokens, updates the account, and releases the refresh
 * lease this holder took with `pg_notify` of the release (src/tokens/refresh-lease.ts `releaseRefreshLease`). Each
 * step takes its row from the step before, so either all of it happens or none. Returns whether it happened; if not,
 * the lease is still held.
 */
export async function storeRefreshedTokensAndReleaseIfPlain(
  db: Kysely<Database>,
  tokens: RefreshedTokens,
  leaseOwner: string,
): Promise<boolean> {
  const { columns } = tokens;
  const values = {
    accountId: tokens.accountId,
    dataKeyId: tokens.dataKeyId,
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    now: tokens.now,
    leaseOwner,
    lastRefreshedAt: columns.last_refreshed_at,
    accessTokenExpiresAt: columns.access_token_expires_at,
    nextKeepaliveAt: columns.next_keepalive_at,
    refreshFailures: columns.refresh_failures,
    refreshRetryAt: columns.refresh_retry_at,
  };
  const issuedAt = columns.refresh_token_issued_at;
  const result =
    issuedAt === undefined
      ? await plainStoresAndReleases.keepingIssuedAt.firstRow(db, { ...values, issuedAt: null })
      : await plainStoresAndReleases.movingIssuedAt.firstRow(db, { ...values, issuedAt });
  return Number(result?.stored ?? 0) > 0;
}

interface PlainStoreValues {
  accountId: string;
  dataKeyId: string;
  accessToken: SealedSecret;
  refreshToken: SealedSecret;
  now: number;
  leaseOwner: string;
  lastRefreshedAt: number | null;
  accessTokenExpiresAt: number | null;
  /** Written only by the statement that moves it (a grant with a new refresh token); null for the other. */
  issuedAt: number | null;
  nextKeepaliveAt: number | null;
  refreshFailures: number;
  refreshRetryAt: number | null;
}

/**
 * `storeRefreshedTokensAndReleaseIfPlain`'s statement, once per refresh on PostgreSQL: a template (issue 14), one for
 * a grant that brought a new refresh token (its window moves) and one for a grant that did not (the column stays).
 */
function plainStoreAndRelease(movesIssuedAt: boolean) {
  return new StatementTemplate((db, slots: PlainStoreValues) => {
    const issuedAt = movesIssuedAt ? sql`${slots.issuedAt}` : sql`refresh_token_issued_at`;
    const statement = sql<{ stored: number; notified: number }>`
    with account as (
      select id from accounts
      where id = ${slots.accountId} and status = 'connected' and refresh_failures = 0
        and exists (select 1 from vault_data_keys where subject_id = ${slots.accountId} and data_key_id = ${slots.dataKeyId})
        and not exists (select 1 from operator_alerts where kind = 'app.misconfigured' and resolved_at is null)
      for update
    ), stored_tokens as (
      update account_tokens
      set access_token = ${slots.accessToken}, refresh_token = ${slots.refreshToken}, updated_at = ${slots.now}
      where account_id in (select id from account)
      returning account_id
    ), updated as (
      update accounts
      set last_refreshed_at = ${slots.lastRefreshedAt},
        access_token_expires_at = ${slots.accessTokenExpiresAt},
        refresh_token_issued_at = ${issuedAt},
        next_keepalive_at = ${slots.nextKeepaliveAt},
        refresh_failures = ${slots.refreshFailures},
        refresh_retry_at = ${slots.refreshRetryAt},
        updated_at = ${slots.now}
      where id in (select account_id from stored_tokens)
      returning id
    ), released as (
      update account_refresh_leases
      set lease_until = 0, generation = generation + 1
      where account_id in (select id from updated) and owner = ${slots.leaseOwner}
      returning account_id
    )
    select (select count(*) from updated)::int as stored,
      (select count(pg_notify(${REFRESH_LEASE_RELEASED_CHANNEL}, account_id)) from released)::int as notified`;
    return { compile: () => statement.compile(db) };
  });
}

const plainStoresAndReleases = {
  movingIssuedAt: plainStoreAndRelease(true),
  keepingIssuedAt: plainStoreAndRelease(false),
};
