import { type Expression, type Kysely, type QueryCreator, type SqlBool, sql } from 'kysely';
import { recordAccountHealth } from '../accounts/account-health.js';
import { groupCommit } from '../db/group-commit.js';
import type { Database } from '../db/schema.js';
import { RowTemplates, StatementTemplate } from '../db/statement-template.js';
import type { AccountsTable } from '../db/tables/accounts.js';
import type { OutboxMessagesTable } from '../db/tables/outbox.js';
import { type RowColumnType, TurnBatches, unnestRows } from '../db/turn-batch.js';
import type { Health } from '../health/health.js';
import type { Remediation } from '../health/remediation.js';
import type { ErrorEvidence } from '../microsoft/error-evidence.js';
import { storableEvidence } from '../microsoft/error-evidence.js';
import type { ServiceDeps } from '../services.js';
import { dropAttachmentContent } from './attachment-content.js';
import { heldColumns, heldEventData } from './held-messages.js';
import { messageEvent, recordMessageEvent } from './message-events.js';
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
  if (deps.dialect === 'postgres') {
    // One statement that commits by itself, shared with the marks of the other sends about to leave in the same turn
    // (the messages one claim took leave together): `writeStartedMarks`.
    const mark: StartedMark = {
      message_id: claim.message.id,
      lease_owner: claim.workerId,
      attempts: claim.attemptNumber,
      attempt_id: claim.attemptId,
      lease_until: now + claim.leaseMs,
      now,
      step,
      changes,
    };
    const marked = await startedMarks.add(deps.db, JSON.stringify([step, changes]), mark);
    if (!marked) throw new LeaseLostError(claim.message.id);
    return;
  }
  // SQLite has no UPDATE inside WITH: the message's fenced renewal and the attempt's mark in one transaction,
  // committed with the marks of the other sends about to leave in the same turn (group commit). A lost fence writes
  // nothing and is reported after.
  const marked = await groupCommit(deps.db, deps.dialect, async (trx) => {
    const renewal = leaseRenewal(claim, now, changes);
    if ((await fencedUpdates.of(renewal).changedRows(trx, renewal)) !== 1) return false;
    await attemptStarted.changedRows(trx, { attemptId: claim.attemptId, step, now });
    return true;
  });
  if (!marked) throw new LeaseLostError(claim.message.id);
}

/** The fence of each row of a batched write (`fencedUpdate`'s, per row): the message, its claim, its attempt. */
const FENCE_COLUMNS = [
  ['message_id', 'text'],
  ['lease_owner', 'text'],
  ['attempts', 'integer'],
  ['attempt_id', 'text'],
] as const satisfies ReadonlyArray<readonly [string, RowColumnType]>;

/** A batched row's message (`outbox_messages as m`) is still held by its claim (`input`'s fence columns). */
const fenceOfInputHolds = sql<boolean>`m.id = input.message_id and m.status = 'sending'
  and m.lease_owner = input.lease_owner and m.attempts = input.attempts`;

/** `column = value, …` of a raw UPDATE's SET list, the values as parameters. */
function assignments(columns: Partial<OutboxMessagesTable>) {
  return Object.entries(columns).map(([column, value]) => sql`${sql.ref(column)} = ${value}`);
}

/** A `started` mark to write on PostgreSQL (`markStarted`); marks batched together share `step` and `changes`. */
interface StartedMark {
  message_id: string;
  lease_owner: string;
  attempts: number;
  attempt_id: string;
  lease_until: number;
  now: number;
  step: string;
  changes: Partial<Pick<OutboxMessagesTable, 'send_mode' | 'graph_draft_id' | 'recovery'>>;
}

/**
 * The `started` marks of several sends in one statement (src/db/turn-batch.ts): each message's fenced lease renewal,
 * and its attempt marked only where that renewal matched, rows in the order a claim takes them (messages, then
 * attempts). Returns, per mark, whether its fence held.
 */
async function writeStartedMarks(db: Kysely<Database>, marks: readonly StartedMark[]): Promise<boolean[]> {
  const { step, changes } = marks[0]!;
  const input = unnestRows(marks, [...FENCE_COLUMNS, ['lease_until', 'bigint'], ['now', 'bigint']]);
  const { rows } = await sql<{ id: string }>`
    with input as (${input}),
    renewed as (
      update outbox_messages as m
      set ${sql.join([sql`lease_until = input.lease_until`, sql`updated_at = input.now`, ...assignments(changes)])}
      from input
      where ${fenceOfInputHolds}
      returning m.id
    )
    update outbox_attempts as a
    set outcome = 'started', step = ${step}, started_at = coalesce(a.started_at, input.now)
    from input
    where a.id = input.attempt_id and input.message_id in (select id from renewed)
    returning input.message_id as id
  `.execute(db);
  const marked = new Set(rows.map((row) => row.id));
  return marks.map((mark) => marked.has(mark.message_id));
}

const startedMarks = new TurnBatches(writeStartedMarks);

/** Renews the lease between steps (a draft with large attachments takes several requests). */
export async function renewLease(deps: OutcomeDeps, claim: Claim, changes: Partial<OutboxMessagesTable> = {}) {
  const renew = (db: Kysely<Database>) => {
    const renewal = leaseRenewal(claim, deps.clock.now(), changes);
    return fencedUpdates.of(renewal).changedRows(db, renewal);
  };
  // On SQLite committed with the other writes of the same turn (group commit); on PostgreSQL one statement, no
  // transaction around it.
  const updated = deps.dialect === 'sqlite' ? await groupCommit(deps.db, deps.dialect, renew) : await renew(deps.db);
  if (updated !== 1) throw new LeaseLostError(claim.message.id);
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
  const quiet =
    deps.dialect === 'postgres' && change.kind === 'sent' && !options.finding
      ? await finishSentQuietly(deps, claim, attempt, options)
      : 'not_tried';
  if (quiet === 'finished') {
    deps.metrics.sends.inc({ outcome: change.kind });
    return true;
  }
  // One transaction; on SQLite committed together with the outcomes of the other sends that ended in the same turn
  // (group commit, src/db/group-commit.ts): the caller goes on only once its own outcome is committed.
  const finished = await groupCommit(deps.db, deps.dialect, async (trx) => {
    const now = deps.clock.now();
    const columns = messageColumns(deps, change, now);
    const attemptColumns = attemptLogColumns(attempt, options, now);
    const finish = { ...columns, ...fenceOf(claim) };
    // Rows in the order a claim takes them (message, then attempt; the lane's pacing row is only waited for by
    // claims that hold no message lock), so a finishing worker and a claiming one can never deadlock on PostgreSQL.
    // The attempt is logged whether or not the fence matched.
    let updated: OutboxMessagesTable | undefined;
    if (deps.dialect === 'postgres') {
      // One round trip for both (issue 14): the attempt's update reads the message's CTE, so it runs after it.
      updated = await trx
        .with('finished', (db) => fencedUpdate(db, finish).returningAll())
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
      updated = await fencedFinishes.of(finish).firstRow(trx, finish);
      const logged = { ...attemptColumns, attempt_id: claim.attemptId };
      await attemptLogs.of(logged).changedRows(trx, logged);
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
        await recordMessageEvent(trx, deps, updated, 'message.sent', sentEventData(updated.from_address, attempt));
        // The quiet statement changed nothing although the fence held: the organisation has a webhook endpoint.
        if (quiet === 'changed_nothing')
          loudOrganizations.set(updated.organization_id, performance.now() + LOUD_FOR_MS);
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

/** The message's columns when its attempt ends with `change`. */
function messageColumns(
  deps: Pick<OutcomeDeps, 'config'>,
  change: MessageChange,
  now: number,
): Partial<OutboxMessagesTable> {
  const base = { lease_owner: null, lease_until: null, updated_at: now };
  switch (change.kind) {
    case 'sent':
      return { ...base, status: 'sent', sent_at: now, next_attempt_at: null, recovery: null };
    case 'retry':
      return {
        ...base,
        status: 'queued',
        next_attempt_at: change.at,
        ...(change.recovery === undefined ? {} : { recovery: change.recovery }),
      };
    case 'failed':
      return {
        ...base,
        status: 'failed',
        next_attempt_at: null,
        failure_reason: change.reason,
        failure_message: change.message,
        failure_remediation: change.remediation ? JSON.stringify(change.remediation) : null,
      };
    case 'outcome_unknown':
      return {
        ...base,
        status: 'outcome_unknown',
        next_attempt_at: null,
        failure_reason: 'outcome_unknown',
        failure_message: change.message,
        failure_remediation: JSON.stringify(UNKNOWN_OUTCOME_REMEDIATION),
      };
    case 'held':
      return { ...base, ...heldColumns(deps, now, change.status, change.reason) };
  }
}

/** The attempt log's columns for what the attempt saw. */
function attemptLogColumns(attempt: AttemptRecord, options: { startedAtMs?: number }, now: number) {
  return {
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
}

/** The claim a write to its message is fenced by (see the module comment), as columns of the write's row. */
interface Fence {
  fence_message_id: string;
  fence_lease_owner: string;
  fence_attempts: number;
}

function fenceOf(claim: Claim): Fence {
  return { fence_message_id: claim.message.id, fence_lease_owner: claim.workerId, fence_attempts: claim.attemptNumber };
}

/** The fenced update that renews the claim's lease, with `changes`. */
function leaseRenewal(claim: Claim, now: number, changes: Partial<OutboxMessagesTable>) {
  return { lease_until: now + claim.leaseMs, updated_at: now, ...changes, ...fenceOf(claim) };
}

/** The message's update (the lease's renewal, the attempt's end) with `row`'s other columns, fenced by the claim. */
function fencedUpdate(db: QueryCreator<Database>, row: Partial<OutboxMessagesTable> & Fence) {
  const { fence_message_id, fence_lease_owner, fence_attempts, ...columns } = row;
  return db
    .updateTable('outbox_messages')
    .set(columns)
    .where('id', '=', fence_message_id)
    .where('status', '=', 'sending')
    .where('lease_owner', '=', fence_lease_owner)
    .where('attempts', '=', fence_attempts);
}

// Every sent message runs these (issue 14: templates, src/db/statement-template.ts).
const fencedUpdates = new RowTemplates(fencedUpdate);
const fencedFinishes = new RowTemplates((db, row: Partial<OutboxMessagesTable> & Fence) =>
  fencedUpdate(db, row).returningAll(),
);
const attemptLogs = new RowTemplates((db, row: ReturnType<typeof attemptLogColumns> & { attempt_id: string }) => {
  const { attempt_id, ...columns } = row;
  return db.updateTable('outbox_attempts').set(columns).where('id', '=', attempt_id);
});
const attemptStarted = new StatementTemplate((db, slots: { attemptId: string; step: string; now: number }) =>
  db
    .updateTable('outbox_attempts')
    .set({ outcome: 'started', step: slots.step, started_at: sql<number>`coalesce(started_at, ${slots.now})` })
    .where('id', '=', slots.attemptId),
);

/** The `message.sent` event's own data (besides the message's ids, `messageEvent`). */
function sentEventData(fromAddress: string | null, attempt: AttemptRecord): Record<string, unknown> {
  return {
    status: 'sent',
    from: fromAddress,
    ...(attempt.outcome === 'found' ? { confirmedBy: 'sent_items_lookup' } : {}),
  };
}

/**
 * Organisations whose `message.sent` could not be recorded quietly lately (an enabled webhook endpoint), with when to
 * try again: their sends take the transaction's path without trying the quiet statement first, which would change
 * nothing. A hint only: the statement itself checks.
 */
const loudOrganizations = new Map<string, number>();
const LOUD_FOR_MS = 60_000;

/**
 * A sent message's outcome on PostgreSQL when nothing but its own rows is written with it (issue 14): the message,
 * its attempt and its `message.sent` event in one statement that commits by itself, where the transaction took four
 * round trips (BEGIN, outcome, event, COMMIT). Only for a message without attachments (their content is dropped when
 * it is sent), from an account no outbox listener acts on (a bounce scan to schedule), with an event its listener has
 * nothing to do for (`EventRecorder.quietly`: no enabled webhook endpoint), a condition the statement requires.
 *
 * The event is built from the claimed row (its ids, provider, Message-ID and sender are set when the message is
 * accepted; `attempts` is the fence's). `changed_nothing` when the fence no longer matches or the organisation has an
 * endpoint now: the caller then takes the transaction's path, which tells the two apart. `not_tried` where it does
 * not apply.
 */
async function finishSentQuietly(
  deps: OutcomeDeps,
  claim: Claim,
  attempt: AttemptRecord,
  options: { startedAtMs?: number },
): Promise<'finished' | 'changed_nothing' | 'not_tried'> {
  const { message, account } = claim;
  const organizationId = message.organization_id;
  if (message.attachment_count > 0) return 'not_tried';
  if ((loudOrganizations.get(organizationId) ?? 0) > performance.now()) return 'not_tried';
  const now = deps.clock.now();
  if (
    message.provider === 'microsoft' &&
    account &&
    deps.outboxListeners.sentThroughGraph.anyActsOn({ at: now, account })
  )
    return 'not_tried';
  const event = deps.events.quietly(
    messageEvent(
      { ...message, attempts: claim.attemptNumber },
      'message.sent',
      sentEventData(message.from_address, attempt),
    ),
  );
  if (!event) return 'not_tried';
  const sent: QuietSent = {
    message_id: message.id,
    lease_owner: claim.workerId,
    attempts: claim.attemptNumber,
    attempt_id: claim.attemptId,
    ...attemptLogColumns(attempt, options, now),
    event_id: event.row.id,
    event_type: event.row.type,
    account_id: event.row.account_id,
    owner_external_id: event.row.owner_external_id,
    data: event.row.data,
    created_at: event.row.created_at,
    messageColumns: messageColumns(deps, { kind: 'sent' }, now),
    organizationId,
    onlyIf: event.onlyIf,
  };
  // Shared with the outcomes of the organisation's other sends that ended in the same turn: `writeQuietlySent`.
  return (await quietlySent.add(deps.db, organizationId, sent)) ? 'finished' : 'changed_nothing';
}

/** A quiet sent outcome (`finishSentQuietly`): the fence, the attempt log's columns and the event's row. */
type QuietSent = {
  message_id: string;
  lease_owner: string;
  attempts: number;
  attempt_id: string;
  event_id: string;
  event_type: string;
  account_id: string | null;
  owner_external_id: string | null;
  data: string;
  created_at: number;
  /** The message's columns of a `sent` outcome (`messageColumns`). */
  messageColumns: Partial<OutboxMessagesTable>;
  organizationId: string;
  onlyIf: Expression<SqlBool>;
} & ReturnType<typeof attemptLogColumns>;

/**
 * Quiet sent outcomes of one organisation in one statement (src/db/turn-batch.ts): the messages' fenced updates
 * where the organisation's event condition holds, the attempts of those that matched, their events. Returns, per
 * outcome, whether it was recorded.
 */
async function writeQuietlySent(db: Kysely<Database>, outcomes: readonly QuietSent[]): Promise<boolean[]> {
  const { organizationId, onlyIf } = outcomes[0]!;
  const input = unnestRows(outcomes, [
    ...FENCE_COLUMNS,
    ['outcome', 'text'],
    ['step', 'text'],
    ['finished_at', 'bigint'],
    ['duration_ms', 'integer'],
    ['http_status', 'integer'],
    ['graph_code', 'text'],
    ['request_id', 'text'],
    ['client_request_id', 'text'],
    ['detail', 'text'],
    ['evidence', 'text'],
    ['retry_after_ms', 'bigint'],
    ['event_id', 'text'],
    ['event_type', 'text'],
    ['account_id', 'text'],
    ['owner_external_id', 'text'],
    ['data', 'text'],
    ['created_at', 'bigint'],
  ]);
  // The messages' columns are the last outcome's: those of one batch ended within one turn, so their times differ
  // by less than a millisecond (each attempt keeps its own `finished_at`).
  const { messageColumns: sentColumns } = outcomes[outcomes.length - 1]!;
  const { rows } = await sql<{ id: string }>`
    with input as (${input}),
    finished as (
      update outbox_messages as m
      set ${sql.join(assignments(sentColumns))}
      from input
      where ${fenceOfInputHolds} and ${onlyIf}
      returning m.id
    ),
    logged as (
      update outbox_attempts as a
      set outcome = input.outcome, step = coalesce(input.step, a.step), finished_at = input.finished_at,
        duration_ms = input.duration_ms, http_status = input.http_status, graph_code = input.graph_code,
        request_id = input.request_id, client_request_id = input.client_request_id, detail = input.detail,
        evidence = input.evidence, retry_after_ms = input.retry_after_ms
      from input
      where a.id = input.attempt_id and input.message_id in (select id from finished)
      returning a.id
    ),
    recorded as (
      insert into events (id, organization_id, type, account_id, owner_external_id, data, created_at)
      select input.event_id, ${organizationId}, input.event_type, input.account_id, input.owner_external_id,
        input.data, input.created_at
      from input
      where input.message_id in (select id from finished)
      returning id
    )
    select id from finished
  `.execute(db);
  const recorded = new Set(rows.map((row) => row.id));
  return outcomes.map((outcome) => recorded.has(outcome.message_id));
}

const quietlySent = new TurnBatches(writeQuietlySent);

export const UNKNOWN_OUTCOME_REMEDIATION: Remediation = {
  title: 'Maybe sent',
  user: 'We lost the connection to Microsoft right after handing over this message, so we cannot tell whether it went out. Check your Sent Items before sending it again.',
  operator:
    'The request left but no answer came back (timeout or dropped connection), and the account cannot be searched (send-only, no Mail.ReadWrite). mailbridge does not resend it so that it is never sent twice (MAILBRIDGE_SEND_UNKNOWN_OUTCOME=fail). Set MAILBRIDGE_SEND_UNKNOWN_OUTCOME=retry to prefer at-least-once, or connect accounts with the warmup profile so outcomes can be checked.',
};
