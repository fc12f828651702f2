import type { WarmupAccountsTable } from '../db/tables/warmup.js';
import { withTransaction } from '../db/transaction.js';
import { GraphClient } from '../graph/graph-client.js';
import { newLeaseOwnerId } from '../platform/ids.js';
import type { ServiceDeps } from '../services.js';
import type { AccessTokenProvider } from '../tokens/access-token-provider.js';
import { TokenError } from '../tokens/token-error.js';
import type { TimeZone } from './mailbox-time-zone.js';
import { needsPerson, pauseUntilReconnect } from './warmup-account-listeners.js';
import { type MailboxDue, readMailboxDue } from './warmup-due.js';
import { ensureTimeZone, type MailboxRun, MailboxThrottled } from './warmup-mailbox.js';
import { nextDayStart, planDayIfNew } from './warmup-planning.js';
import { lookForWarmupMail, performDueActions } from './warmup-receiving.js';
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
 * One mailbox's run: one read of its account and of what it has due (warmup-due.ts), then only the steps with
 * work: the time zone, the day's plan, the outbox's outcomes, the Sent Items copies, due sends, a delta look when
 * mail is expected, the due steps on received mail; then its next due time, which is only its real next work or
 * its next local day. Nothing looks at a mailbox by the hour: the account's changes and the outbox's bounces reach
 * warm-up through listeners (warmup-account-listeners.ts). Microsoft throttling (429/503) ends the run as a pause for this mailbox
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
/** After a token request that failed without a retry time: when to try the mailbox again. [GUESS] */
const TOKEN_RETRY_MS = HOUR;
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
  // The batch's mailboxes run side by side: a run is mostly waits on Graph and the database, and one after another
  // the batch's last mailbox could outlive its lease. Each mailbox's own steps stay in order.
  await Promise.all(claimed.map((row) => runAndRelease(deps, provider, graph, row, workerId)));
  return { claimed: claimed.length };
}

async function runAndRelease(
  deps: ServiceDeps,
  provider: AccessTokenProvider,
  graph: GraphClient,
  row: WarmupAccountsTable,
  workerId: string,
): Promise<void> {
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

/** One mailbox's work; returns when it is due next (null: nothing until someone acts). */
async function runMailbox(
  deps: ServiceDeps,
  provider: AccessTokenProvider,
  graph: GraphClient,
  row: WarmupAccountsTable,
): Promise<number | null> {
  const now = deps.clock.now();
  const found = await readMailboxDue(deps.db, row.account_id, now);
  if (!found) return null;
  const { account, due } = found;
  const owner = { ownerExternalId: account.owner_external_id };
  // The grant (§G): the account's listeners pause warm-up when it needs a person and resume it after the reconnect
  // (warmup-account-listeners.ts); a run that finds them out of step (a disconnect, which no listener hears) catches
  // up, and a paused mailbox waits for the reconnect to make it due again.
  if (needsPerson(account.status)) {
    if (row.state !== 'paused' || row.state_reason !== 'grant_revoked') {
      await withTransaction(deps.db, (trx) => pauseUntilReconnect(trx, deps, row, owner, now));
    }
    return null;
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
    const planned = await planDayIfNew(run);
    // Each step only when the figures read with the account say it has work (a step's own read is a statement).
    const waiting = due.outboxPending ? await syncOutboxOutcomes(run) : 0;
    if (due.outboxPending || due.sentCopies) await clearSentCopies(run);
    const submitted = planned || isDue(due.nextSend, now) ? await submitDueMessages(run) : 0;
    const found = due.awaitingMail || row.inbox_delta_link === null ? await lookForWarmupMail(run) : 0;
    if (found > 0 || isDue(due.nextStep, now)) await performDueActions(run);
    const worked = planned || due.outboxPending || due.sentCopies || submitted > 0 || found > 0;
    const after = worked || isDue(due.nextStep, now) ? (await readMailboxDue(deps.db, row.account_id, now))?.due : due;
    return nextRunAt(run, after ?? due, waiting + submitted > 0);
  } catch (error) {
    if (error instanceof MailboxThrottled) return throttled(run, error);
    if (error instanceof TokenError) {
      // The token provider recorded what Microsoft said on the account (a grant that needs a person has paused
      // warm-up through the account's listener); the next run reads it.
      return deps.clock.now() + (error.retryAt ? Math.max(0, error.retryAt - deps.clock.now()) : TOKEN_RETRY_MS);
    }
    throw error;
  }
}

function isDue(at: number | null, now: number): boolean {
  return at !== null && at <= now;
}

/** The mailbox's next due time: its real next work, or its next local day. */
function nextRunAt(run: MailboxRun, due: MailboxDue, outboxWaiting: boolean): number {
  const { now } = run;
  const candidates: number[] = [nextDayStart(run)];
  if (outboxWaiting) candidates.push(now + OUTBOX_CHECK_MS);
  if (due.nextSend !== null) candidates.push(due.nextSend);
  if (due.nextStep !== null) candidates.push(due.nextStep);
  if (due.awaitingMail) candidates.push(now + EXPECTING_LOOK_MS);
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
