import type { ExpressionBuilder, Kysely } from 'kysely';
import type { AccountConnected, AccountStatusChanged } from '../accounts/account-listeners.js';
import type { Database } from '../db/schema.js';
import type { AccountStatus } from '../db/tables/accounts.js';
import type { WarmupAccountsTable } from '../db/tables/warmup.js';
import { HOLDING_STATUSES } from '../outbox/message-target.js';
import type { MessageBounced } from '../outbox/outbox-listeners.js';
import type { ServiceDeps } from '../services.js';
import { applySafetySignal } from './warmup-state.js';

/**
 * What warm-up hears of the rest of the service, in the transaction of the change (registered in src/compose.ts,
 * ARCHITECTURE.md "Listeners"), so that no mailbox needs a standing look to find it out (docs/warmup.md §W):
 *
 * - the account needs a person (its grant revoked, an admin's approval pending): warm-up pauses at once with
 *   `grant_revoked` and its alert (§G), and its sends still planned are canceled (they are not sent late);
 * - the account is usable again (a reconnect, or a recovery the health check found): a `grant_revoked` pause
 *   resumes on probation (§G) and the mailbox is due at once;
 * - a warm-up message bounced (the bounce reader): its sender's run comes forward, which copies the bounce into the
 *   safety rules.
 *
 * Each costs one indexed statement for an account that is not in warm-up.
 */

type ListenerDeps = Pick<ServiceDeps, 'events'>;

/** Account statuses that need a person before warm-up can go on (the outbox holds its mail for the same ones). */
export function needsPerson(status: AccountStatus): boolean {
  return HOLDING_STATUSES.has(status) || status === 'disconnected';
}

/** The mailbox's warm-up row with its owner's external id (for the events), if it is in warm-up. */
async function warmupRowOf(trx: Kysely<Database>, accountId: string) {
  return trx
    .selectFrom('warmup_accounts')
    .innerJoin('accounts', 'accounts.id', 'warmup_accounts.account_id')
    .innerJoin('owners', 'owners.id', 'accounts.owner_id')
    .selectAll('warmup_accounts')
    .select('owners.external_id as owner_external_id')
    .where('warmup_accounts.account_id', '=', accountId)
    .executeTakeFirst();
}

/** `statusChanged`: pauses warm-up when the account needs a person, resumes it when the account is usable again. */
export async function followAccountStatus(
  trx: Kysely<Database>,
  deps: ListenerDeps,
  change: AccountStatusChanged,
  at: number,
): Promise<void> {
  if (needsPerson(change.status)) {
    await pauseForGrant(trx, deps, change.accountId, at);
  } else if (needsPerson(change.previousStatus)) {
    await resumeAfterGrant(trx, deps, change.accountId, at);
  }
}

/** `connected`: a reconnect resumes a `grant_revoked` pause. */
export async function resumeOnReconnect(
  trx: Kysely<Database>,
  deps: ListenerDeps,
  connected: AccountConnected,
): Promise<void> {
  if (connected.kind === 'reconnected') await resumeAfterGrant(trx, deps, connected.accountId, connected.at);
}

async function pauseForGrant(trx: Kysely<Database>, deps: ListenerDeps, accountId: string, at: number) {
  const found = await warmupRowOf(trx, accountId);
  if (!found) return;
  const { owner_external_id: ownerExternalId, ...row } = found;
  await pauseUntilReconnect(trx, deps, row, { ownerExternalId }, at);
}

/** The pause of an account that needs a person (§G), with its alert; its sends still planned are canceled. */
export async function pauseUntilReconnect(
  trx: Kysely<Database>,
  deps: ListenerDeps,
  row: WarmupAccountsTable,
  owner: { ownerExternalId: string | null },
  at: number,
): Promise<void> {
  await applySafetySignal(trx, deps, row, { kind: 'grant_revoked', at }, owner);
  await trx
    .updateTable('warmup_messages')
    .set({ status: 'canceled', updated_at: at })
    .where('sender_account_id', '=', row.account_id)
    .where('status', '=', 'planned')
    .execute();
}

async function resumeAfterGrant(trx: Kysely<Database>, deps: ListenerDeps, accountId: string, at: number) {
  const found = await warmupRowOf(trx, accountId);
  if (found?.state !== 'paused' || found.state_reason !== 'grant_revoked') return;
  const { owner_external_id: ownerExternalId, ...row } = found;
  await applySafetySignal(trx, deps, row, { kind: 'reconnected', at }, { ownerExternalId });
  await bringForward(trx, accountId, at);
}

/** `bounced` (outbox): the warm-up sender of the message runs next, and learns of the bounce. */
export async function wakeSenderOfBounce(trx: Kysely<Database>, bounced: MessageBounced): Promise<void> {
  await trx
    .updateTable('warmup_accounts')
    .set({ next_run_at: bounced.at })
    .where('account_id', 'in', (eb) =>
      eb.selectFrom('warmup_messages').select('sender_account_id').where('outbox_message_id', '=', bounced.messageId),
    )
    // A switch that is off has no due time and keeps none.
    .where('next_run_at', '>', bounced.at)
    .where((eb) => leaseFree(eb, bounced.at))
    .execute();
}

/** Makes the mailbox due at `at`, unless a worker holds it (its run sets the next due time as it ends). */
async function bringForward(trx: Kysely<Database>, accountId: string, at: number): Promise<void> {
  await trx
    .updateTable('warmup_accounts')
    .set({ next_run_at: at })
    .where('account_id', '=', accountId)
    .where((eb) => eb.or([eb('next_run_at', 'is', null), eb('next_run_at', '>', at)]))
    .where((eb) => leaseFree(eb, at))
    .execute();
}

function leaseFree(eb: ExpressionBuilder<Database, 'warmup_accounts'>, at: number) {
  return eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', at)]);
}
