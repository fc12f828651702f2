import { type Kysely, type QueryCreator, sql } from 'kysely';
import { recordAccountHealth } from '../accounts/account-health.js';
import { groupCommit } from '../db/group-commit.js';
import type { Database } from '../db/schema.js';
import type { AccountsTable } from '../db/tables/accounts.js';
import type { OutboxMessagesTable } from '../db/tables/outbox.js';
import type { Health } from '../health/health.js';
import type { Remediation } from '../health/remediation.js';
import type { ErrorEvidence } from '../microsoft/error-evidence.js';
import { storableEvidence } from '../microsoft/error-evidence.js';
import type { ServiceDeps } from '../services.js';
import { dropAttachmentContent } from './attachment-content.js';
import { heldColumns, heldEventData } from './held-messages.js';
import { recordMessageEvent } from './message-events.js';
import type { Claim } from './pacing.js';

/**
 * The writes of one attempt, each fenced by the claim: `id`, `status = 'sending'`, `lease_owner` and the attempt
 * number must still match, so a worker whose lease expired (and whose message another worker took) can never
 * overwrite the newer attempt's state. @see docs/engineering.md §9
 */

type OutcomeDeps = Pick<
  ServiceDeps,
  'db' | 'clock' | 'events' | 'config' | 'dialect' | 'logger' | 'metrics' | 'outboxListeners'
>;

/** The lease was lost (expired and taken by another worker, or the message changed): stop without sending. */
export class LeaseLostError extends Error {
  constructor(messageId: string) {
    super(`lost the lease of message ${messageId}`);
    this.name = 'LeaseLostError';
  }
}

/**
 * Records, committed, that a request which may send is about to leave (`started`), renews the lease, and saves how
 * the message is being sent. Throws `LeaseLostError` if the claim is no longer ours: then nothing may be sent.
 * Called before every such request, so a crash at any instant leaves a `started` attempt that recovery reads as
 * an unknown outcome. `recovery: 'lookup'` is set for draft sends: until the attempt ends `sent`, the next attempt
 * first looks for our Message-ID.
 */
export async function markStarted(
  deps: OutcomeDeps,
  claim: Claim,
  step: string,
  changes: Partial<Pick<OutboxMessagesTable, 'send_mode' | 'graph_draft_id' | 'recovery'>> = {},
): Promise<void> {
  const now = deps.clock.now();
  const renewed = (db: QueryCreator<Database>) =>
    db
      .updateTable('outbox_messages')
      .set({ lease_until: now + claim.leaseMs, updated_at: now, ...changes })
      .where('id', '=', claim.message.id)
      .where('status', '=', 'sending')
      .where('lease_owner', '=', claim.workerId)
      .where('attempts', '=', claim.attemptNumber);
  const started = { outcome: 'started', step, started_at: sql<number>`coalesce(started_at, ${now})` };
  if (deps.dialect === 'postgres') {
    // One statement, one round trip (this runs before every request that may send): the attempt is marked only if
    // the message's fenced update matched, atomically, rows in the order a claim takes them (message, attempt).
    const marked = await deps.db
      .with('renewed', (db) => renewed(db).returning('id'))
      .updateTable('outbox_attempts')
      .set(started)
      .where('id', '=', claim.attemptId)
      .where((eb) => eb.exists(eb.selectFrom('renewed').select('renewed.id')))
      .executeTakeFirst();
    if (Number(marked.numUpdatedRows) !== 1) throw new LeaseLostError(claim.message.id);
    return;
  }
  // SQLite has no UPDATE inside WITH: the same two writes in one transaction, committed with the marks of the other
  // sends about to leave in the same turn (group commit). A lost fence writes nothing and is reported after.
  const marked = await groupCommit(deps.db, deps.dialect, async (trx) => {
    const updated = await renewed(trx).executeTakeFirst();
    if (Number(updated.numUpdatedRows) !== 1) return false;
    await trx.updateTable('outbox_attempts').set(started).where('id', '=', claim.attemptId).execute();
    return true;
  });
  if (!marked) throw new LeaseLostError(claim.message.id);
}

/** Renews the lease between steps (a draft with large attachments takes several requests). */
export async function renewLease(deps: OutcomeDeps, claim: Claim, changes: Partial<OutboxMessagesTable> = {}) {
  const renew = (db: Kysely<Database>) => {
    const now = deps.clock.now();
    return db
      .updateTable('outbox_messages')
      .set({ lease_until: now + claim.leaseMs, updated_at: now, ...changes })
      .where('id', '=', claim.message.id)
      .where('status', '=', 'sending')
      .where('lease_owner', '=', claim.workerId)
      .where('attempts', '=', claim.attemptNumber)
      .executeTakeFirst();
  };
  // On SQLite committed with the other writes of the same turn (group commit); on PostgreSQL one statement, no
  // transaction around it.
  const updated = deps.dialect === 'sqlite' ? await groupCommit(deps.db, deps.dialect, renew) : await renew(deps.db);
  if (Number(updated.numUpdatedRows) !== 1) throw new LeaseLostError(claim.message.id);
}

/** What an attempt saw, for the attempt log. */
export interface AttemptRecord {
  outcome: 'accepted' | 'rejected' | 'not_sent' | 'unknown' | 'found' | 'held';
  step?: string;
  httpStatus?: number;
  graphCode?: string;
  requestId?: string;
  clientRequestId?: string;
  detail?: string;
  evidence?: ErrorEvidence;
  retryAfterMs?: number;
}

export type MessageChange =
  | { kind: 'sent' }
  | {
      kind: 'retry';
      at: number;
      /** Keep (or set) the look-before-sending flag for the next attempt. */
      recovery?: 'lookup' | null;
      /** Microsoft's Retry-After for this mailbox: no message of the lane goes before then. */
      throttleLaneUntil?: number;
    }
  | { kind: 'failed'; reason: string; message: string; remediation?: Remediation; detail?: string | null }
  | { kind: 'outcome_unknown'; message: string }
  | { kind: 'held'; status: string; reason: string | null };

/** An account-level finding to record with the outcome (the one place status changes is `recordAccountHealth`). */
export interface AccountFinding {
  account: AccountsTable;
  health: Health;
}

/**
 * Ends an attempt: writes what was seen to the attempt log and moves the message (fenced), with its event, and
 * the account's health when the error was about the account, all in one transaction. Returns false when the
 * claim was lost (the attempt is still logged; the message belongs to the newer attempt).
 */
export async function finishAttempt(
  deps: OutcomeDeps,
  claim: Claim,
  attempt: AttemptRecord,
  change: MessageChange,
  options: { startedAtMs?: number; finding?: AccountFinding } = {},
): Promise<boolean> {
  // One transaction; on SQLite committed together with the outcomes of the other sends that ended in the same turn
  // (group commit, src/db/group-commit.ts): the caller goes on only once its own outcome is committed.
  const finished = await groupCommit(deps.db, deps.dialect, async (trx) => {
    const now = deps.clock.now();
    const base = { lease_owner: null, lease_until: null, updated_at: now };
    const columns: Partial<OutboxMessagesTable> =
      change.kind === 'sent'
        ? { ...base, status: 'sent', sent_at: now, next_attempt_at: null, recovery: null }
        : change.kind === 'retry'
          ? {
              ...base,
              status: 'queued',
              next_attempt_at: change.at,
              ...(change.recovery === undefined ? {} : { recovery: change.recovery }),
            }
          : change.kind === 'failed'
            ? {
                ...base,
                status: 'failed',
                next_attempt_at: null,
                failure_reason: change.reason,
                failure_message: change.message,
                failure_remediation: change.remediation ? JSON.stringify(change.remediation) : null,
              }
            : change.kind === 'outcome_unknown'
              ? {
                  ...base,
                  status: 'outcome_unknown',
                  next_attempt_at: null,
                  failure_reason: 'outcome_unknown',
                  failure_message: change.message,
                  failure_remediation: JSON.stringify(UNKNOWN_OUTCOME_REMEDIATION),
                }
              : { ...base, ...heldColumns(deps, now, change.status, change.reason) };
    const finishMessage = (db: QueryCreator<Database>) =>
      db
        .updateTable('outbox_messages')
        .set(columns)
        .where('id', '=', claim.message.id)
        .where('status', '=', 'sending')
        .where('lease_owner', '=', claim.workerId)
        .where('attempts', '=', claim.attemptNumber)
        .returningAll();
    const attemptColumns = {
      outcome: attempt.outcome,
      ...(attempt.step === undefined ? {} : { step: attempt.step }),
      finished_at: now,
      duration_ms: options.startedAtMs === undefined ? null : Math.round(performance.now() - options.startedAtMs),
      http_status: attempt.httpStatus ?? null,
      graph_code: attempt.graphCode ?? null,
      request_id: attempt.requestId ?? null,
      client_request_id: attempt.clientRequestId ?? null,
      detail: attempt.detail === undefined ? null : attempt.detail.slice(0, 500),
      evidence: attempt.evidence === undefined ? null : JSON.stringify(storableEvidence(attempt.evidence)),
      retry_after_ms: attempt.retryAfterMs ?? null,
    };
    // Rows in the order a claim takes them (message, then attempt; the lane's pacing row is only waited for by
    // claims that hold no message lock), so a finishing worker and a claiming one can never deadlock on PostgreSQL.
    // The attempt is logged whether or not the fence matched.
    let updated: OutboxMessagesTable | undefined;
    if (deps.dialect === 'postgres') {
      // One round trip for both (issue 14): the attempt's update reads the message's CTE, so it runs after it.
      updated = await trx
        .with('finished', (db) => finishMessage(db))
        .with('logged', (db) =>
          db
            .updateTable('outbox_attempts')
            .set(attemptColumns)
            .where('id', '=', claim.attemptId)
            .where((eb) => eb(eb.selectFrom('finished').select(eb.fn.countAll<number>().as('n')), '>=', 0))
            .returning('id'),
        )
        .selectFrom('finished')
        .selectAll()
        .executeTakeFirst();
    } else {
      updated = await finishMessage(trx).executeTakeFirst();
      await trx.updateTable('outbox_attempts').set(attemptColumns).where('id', '=', claim.attemptId).execute();
    }

    if (change.kind === 'retry' && change.throttleLaneUntil !== undefined) {
      // Microsoft's Retry-After is about the mailbox, whoever holds this message now.
      await trx
        .updateTable('outbox_pacing')
        .set({
          throttled_until: sql<number>`case when throttled_until is null or throttled_until < ${change.throttleLaneUntil} then ${change.throttleLaneUntil} else throttled_until end`,
          updated_at: now,
        })
        .where('lane', '=', claim.message.lane)
        .execute();
    }
    if (options.finding && updated) {
      await recordAccountHealth(trx, deps, options.finding.account, options.finding.health);
    }

    if (updated && updated.status !== 'queued' && updated.status !== 'held') await dropAttachmentContent(trx, updated);
    if (!updated) {
      deps.logger.warn(
        { messageId: claim.message.id, attempt: claim.attemptNumber },
        'outbox: lease lost before finishing',
      );
      return false;
    }
    switch (change.kind) {
      case 'sent':
        await recordMessageEvent(trx, deps, updated, 'message.sent', {
          status: 'sent',
          from: updated.from_address,
          ...(attempt.outcome === 'found' ? { confirmedBy: 'sent_items_lookup' } : {}),
        });
        // Reports of non-delivery arrive in the sender's Inbox: the bounce reader's listener reads it for a while.
        if (updated.provider === 'microsoft' && claim.account) {
          await deps.outboxListeners.sentThroughGraph.emit(trx, { at: now, account: claim.account });
        }
        break;
      case 'failed':
        await recordMessageEvent(trx, deps, updated, 'message.failed', {
          status: 'failed',
          reason: change.reason,
          detail: change.detail ?? attempt.graphCode ?? null,
          message: change.message,
          remediation: change.remediation,
        });
        break;
      case 'outcome_unknown':
        await recordMessageEvent(trx, deps, updated, 'message.failed', {
          status: 'outcome_unknown',
          reason: 'outcome_unknown',
          message: change.message,
          remediation: UNKNOWN_OUTCOME_REMEDIATION,
        });
        break;
      case 'held':
        await recordMessageEvent(trx, deps, updated, 'message.held', heldEventData(updated));
        break;
      case 'retry':
        break;
    }
    return true;
  });
  // Counted once committed: `mailbridge_outbox_sends_total{outcome}` (src/metrics/service-metrics.ts).
  if (finished) deps.metrics.sends.inc({ outcome: change.kind });
  return finished;
}

export const UNKNOWN_OUTCOME_REMEDIATION: Remediation = {
  title: 'Maybe sent',
  user: 'We lost the connection to Microsoft right after handing over this message, so we cannot tell whether it went out. Check your Sent Items before sending it again.',
  operator:
    'The request left but no answer came back (timeout or dropped connection), and the account cannot be searched (send-only, no Mail.ReadWrite). mailbridge does not resend it so that it is never sent twice (MAILBRIDGE_SEND_UNKNOWN_OUTCOME=fail). Set MAILBRIDGE_SEND_UNKNOWN_OUTCOME=retry to prefer at-least-once, or connect accounts with the warmup profile so outcomes can be checked.',
};
