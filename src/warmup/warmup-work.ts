import type { WarmupAccountsTable } from '../db/tables/warmup.js';
import { withTransaction } from '../db/transaction.js';
import { GraphClient } from '../graph/graph-client.js';
import { HOLDING_STATUSES } from '../outbox/message-target.js';
import { newLeaseOwnerId } from '../platform/ids.js';
import type { ServiceDeps } from '../services.js';
import type { AccessTokenProvider } from '../tokens/access-token-provider.js';
import { TokenError } from '../tokens/token-error.js';
import type { TimeZone } from './mailbox-time-zone.js';
import { ensureTimeZone, type MailboxRun, MailboxThrottled } from './warmup-mailbox.js';
import { nextDayStart, planDayIfNew } from './warmup-planning.js';
import { awaitsMail, lookForWarmupMail, performDueActions } from './warmup-receiving.js';
import { clearSentCopies, submitDueMessages, syncOutboxOutcomes } from './warmup-sending.js';
import { applySafetySignal, settingsOf } from './warmup-state.js';

/**
 * The warm-up engine's background work (issue 12), one declaration for both runners: the in-process loop's
 * `warmup` task and pg-boss's `warmup-sweep` job both call `runWarmupDue`. Mailboxes are due rows: each
 * `warmup_accounts.next_run_at` (indexed) says when the mailbox has work next (a slot, a step on received mail, a
 * message partners sent it, the next local day, the outbox's outcome); a run claims a batch under a lease (moving
 * `next_run_at` a lease ahead, as keep-alive and the outbox do), so two workers never run one mailbox and a worker
 * that dies leaves it to the lease. A fleet costs what falls due, never what exists.
 *
 * One mailbox's run: its account's standing (a revoked grant pauses warm-up, a reconnect resumes it, §G), the time
 * zone, the day's plan, the outbox's outcomes, due sends, a delta look when mail is expected, the due steps on
 * received mail; then its next due time. Microsoft throttling (429/503) ends the run as a pause for this mailbox
 * only: a storm is counted (three in an hour pause warm-up, §G) and the mailbox comes back after Retry-After.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** How long a claimed mailbox stays with its worker. */
const LEASE_MS = 5 * MINUTE;
/**
 * While warm-up mail to this mailbox is on its way (the engine knows: it handed it to the outbox), how soon to look
 * again. No mail expected, no look: the delta rounds follow the mail, not the clock.
 */
const EXPECTING_LOOK_MS = 5 * MINUTE;
/** While the outbox still holds this mailbox's warm-up mail: when to read its outcome again. */
const OUTBOX_CHECK_MS = 2 * MINUTE;
/**
 * A mailbox whose account needs a person: when to look at it again. Also the longest a warm-up mailbox goes without
 * a run, so that a grant revoked between its slots pauses warm-up (with its alert) within the hour (§G). A run with
 * nothing due costs a few indexed reads and no Graph call.
 */
const ACCOUNT_RECHECK_MS = HOUR;
/** Two throttled answers this close together are one storm. [GUESS] */
const STORM_GAP_MS = 5 * MINUTE;

export interface WarmupWorkOptions {
  /** Mailboxes per run (default 20). */
  batchSize?: number;
  graph?: GraphClient;
  workerId?: string;
}

/** Claims due mailboxes and runs each. `claimed` tells the runners whether a full batch came back (more may wait). */
export async function runWarmupDue(
  deps: ServiceDeps,
  provider: AccessTokenProvider,
  options: WarmupWorkOptions = {},
): Promise<{ claimed: number }> {
  const graph =
    options.graph ??
    new GraphClient({ baseUrl: deps.microsoft.graphBaseUrl, fetch: deps.microsoft.fetch, preferImmutableIds: true });
  const workerId = options.workerId ?? newLeaseOwnerId();
  const now = deps.clock.now();
  const claimed = await deps.db
    .updateTable('warmup_accounts')
    .set({ next_run_at: now + LEASE_MS, lease_owner: workerId, lease_until: now + LEASE_MS })
    .where('account_id', 'in', (eb) => {
      const due = eb
        .selectFrom('warmup_accounts')
        .select('account_id')
        .where('next_run_at', 'is not', null)
        .where('next_run_at', '<=', now)
        .orderBy('next_run_at')
        .limit(options.batchSize ?? 20);
      return deps.dialect === 'postgres' ? due.forUpdate().skipLocked() : due;
    })
    .where('next_run_at', '<=', now)
    .returningAll()
    .execute();
  for (const row of claimed) {
    let next: number | null;
    try {
      next = await runMailbox(deps, provider, graph, row);
    } catch (error) {
      // Infrastructure (database, a Graph failure that is not throttling): logged; the mailbox is tried again later.
      deps.logger.warn({ err: error, accountId: row.account_id }, 'warm-up run failed; trying again later');
      next = deps.clock.now() + 15 * MINUTE;
    }
    await deps.db
      .updateTable('warmup_accounts')
      .set({ next_run_at: next, lease_owner: null, lease_until: null })
      .where('account_id', '=', row.account_id)
      .where('lease_owner', '=', workerId)
      .execute();
  }
  return { claimed: claimed.length };
}

/** One mailbox's work; returns when it is due next (null: nothing until someone acts). */
async function runMailbox(
  deps: ServiceDeps,
  provider: AccessTokenProvider,
  graph: GraphClient,
  row: WarmupAccountsTable,
): Promise<number | null> {
  const account = await deps.db
    .selectFrom('accounts')
    .innerJoin('owners', 'owners.id', 'accounts.owner_id')
    .selectAll('accounts')
    .select('owners.external_id as owner_external_id')
    .where('accounts.id', '=', row.account_id)
    .executeTakeFirst();
  if (!account) return null;
  const now = deps.clock.now();
  const owner = { ownerExternalId: account.owner_external_id };
  // The grant (§G): revoked (or the mailbox disconnected) pauses warm-up with its alert; the reconnect resumes it on
  // probation, so the mailbox keeps an hourly look while it waits.
  if (HOLDING_STATUSES.has(account.status) || account.status === 'disconnected') {
    await withTransaction(deps.db, (trx) =>
      applySafetySignal(trx, deps, row, { kind: 'grant_revoked', at: now }, owner),
    );
    return now + ACCOUNT_RECHECK_MS;
  }
  if (row.state === 'paused' && row.state_reason === 'grant_revoked') {
    await withTransaction(deps.db, (trx) => applySafetySignal(trx, deps, row, { kind: 'reconnected', at: now }, owner));
  }
  if (row.enabled === 0) return null;
  const run: MailboxRun = {
    deps,
    tokens: provider,
    graph,
    row,
    account,
    settings: settingsOf(row),
    zone: (row.time_zone ?? 'UTC') as TimeZone,
    now,
  };
  try {
    await ensureTimeZone(run);
    await planDayIfNew(run);
    const waiting = await syncOutboxOutcomes(run);
    await clearSentCopies(run);
    const submitted = await submitDueMessages(run);
    const expecting = await awaitsMail(run);
    if (expecting || row.inbox_delta_link === null) await lookForWarmupMail(run);
    await performDueActions(run);
    return await nextRunAt(run, waiting + submitted > 0);
  } catch (error) {
    if (error instanceof MailboxThrottled) return throttled(run, error);
    if (error instanceof TokenError) {
      // The token provider recorded what Microsoft said on the account; the next run reads it (a revoked grant
      // pauses warm-up then).
      return deps.clock.now() + (error.retryAt ? Math.max(0, error.retryAt - deps.clock.now()) : ACCOUNT_RECHECK_MS);
    }
    throw error;
  }
}

async function nextRunAt(run: MailboxRun, outboxWaiting: boolean): Promise<number> {
  const { deps, row, now } = run;
  const candidates: number[] = [nextDayStart(run), now + ACCOUNT_RECHECK_MS];
  if (outboxWaiting) candidates.push(now + OUTBOX_CHECK_MS);
  const nextSend = await deps.db
    .selectFrom('warmup_messages')
    .select((eb) => eb.fn.min('planned_at').as('at'))
    .where('sender_account_id', '=', row.account_id)
    .where('status', '=', 'planned')
    .executeTakeFirst();
  if (nextSend?.at !== null && nextSend?.at !== undefined) candidates.push(Number(nextSend.at));
  const nextStep = await deps.db
    .selectFrom('warmup_messages')
    .select((eb) => eb.fn.min('actions_due_at').as('at'))
    .where('recipient_account_id', '=', row.account_id)
    .executeTakeFirst();
  if (nextStep?.at !== null && nextStep?.at !== undefined) candidates.push(Number(nextStep.at));
  if (await awaitsMail(run)) candidates.push(now + EXPECTING_LOOK_MS);
  return Math.max(now + 1_000, Math.min(...candidates));
}

/** A throttled mailbox: one storm counted, three in the window pause warm-up (§G); back after Retry-After. */
async function throttled(run: MailboxRun, error: MailboxThrottled): Promise<number> {
  const { deps, row } = run;
  const now = deps.clock.now();
  const storms = (JSON.parse(row.throttle_storms) as number[]).filter(
    (at) => at > now - run.settings.safety.throttleStormWindowMinutes * MINUTE,
  );
  const last = storms.at(-1);
  if (last === undefined || now - last > STORM_GAP_MS) storms.push(now);
  await withTransaction(deps.db, async (trx) => {
    await trx
      .updateTable('warmup_accounts')
      .set({ throttle_storms: JSON.stringify(storms), updated_at: now })
      .where('account_id', '=', row.account_id)
      .execute();
    await applySafetySignal(
      trx,
      deps,
      row,
      { kind: 'throttle_storm', at: now, stormsStartedAt: storms },
      { ownerExternalId: run.account.owner_external_id },
    );
  });
  deps.logger.info({ accountId: row.account_id, retryAfterMs: error.retryAfterMs }, 'warm-up: mailbox throttled');
  return now + Math.max(error.retryAfterMs, MINUTE);
}
