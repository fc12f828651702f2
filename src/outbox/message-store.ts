import { createHash } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { groupCommit } from '../db/group-commit.js';
import type { Database } from '../db/schema.js';
import { RowTemplates } from '../db/statement-template.js';
import type {
  MessageStatus,
  OutboxAttachmentsTable,
  OutboxAttemptsTable,
  OutboxMessagesTable,
} from '../db/tables/outbox.js';
import { withTransaction } from '../db/transaction.js';
import { JOBS, type JobEngine } from '../jobs/job-engine.js';
import type { ErrorEvidence } from '../microsoft/error-evidence.js';
import { isoTimeOrNull } from '../platform/clock.js';
import { newId } from '../platform/ids.js';
import type { ServiceDeps } from '../services.js';
import { dropAttachmentContent } from './attachment-content.js';
import { heldColumns, heldEventData } from './held-messages.js';
import { type LanePause, wakeLane } from './lane-wakeup.js';
import { recordMessageEvent } from './message-events.js';
import type { MailAddress, StoredPayload, ValidatedMessage } from './message-input.js';
import { HOLDING_STATUSES, type MessageTarget } from './message-target.js';
import { outboxError } from './outbox-errors.js';

type StoreDeps = Pick<ServiceDeps, 'db' | 'clock' | 'events' | 'config' | 'dialect' | 'jobs'>;

export const MESSAGE_STATUSES: readonly MessageStatus[] = [
  'queued',
  'sending',
  'sent',
  'failed',
  'held',
  'canceled',
  'outcome_unknown',
  'bounced',
];

/**
 * Our own Message-ID, `<mb.{message id}@{host of PUBLIC_URL}>`: unique per message (the id is), stable across
 * attempts, and how an unknown outcome is resolved (we look for it in Sent Items). @see issue 4 item 5
 */
export function internetMessageIdFor(messageId: string, publicUrl: string): string {
  let host = 'mailbridge.invalid';
  try {
    host = new URL(publicUrl).hostname.replace(/^\[|\]$/g, '') || host;
  } catch {
    // PUBLIC_URL is validated at start; a fallback domain keeps the id well-formed regardless.
  }
  return `<mb.${messageId}@${host}>`;
}

/** SHA-256 over the request's target and its body (keys sorted), to tell a retry from a reused key. */
export function requestHash(target: string, body: unknown): string {
  return createHash('sha256')
    .update(`${target}\n${canonicalJson(body)}`)
    .digest('base64url');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, each]) => each !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, each]) => `${JSON.stringify(key)}:${canonicalJson(each)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export interface IdempotentRequest {
  key: string;
  hash: string;
}

/**
 * The message an earlier request with this key created, when the key was used before in the organisation: the same
 * request gets it back; another request with the same key is 409 `IDEMPOTENCY_KEY_REUSED`.
 */
export async function findIdempotentMessageOrThrow(
  db: Kysely<Database>,
  organizationId: string,
  request: IdempotentRequest,
): Promise<OutboxMessagesTable | undefined> {
  const row = await db
    .selectFrom('outbox_messages')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where('idempotency_key', '=', request.key)
    .executeTakeFirst();
  if (row && row.request_hash !== request.hash) {
    throw outboxError(
      'IDEMPOTENCY_KEY_REUSED',
      'This Idempotency-Key was already used with a different request; use a new key for a new message.',
      { messageId: row.id },
    );
  }
  return row;
}

/**
 * Accepts a validated message: one transaction writes the message and its attachments (and, for an account that
 * needs a person, holds it with its `message.held` event); with pg-boss, a message that is neither held nor carries
 * attachments whose mailbox's job waits already is one statement instead (`insertBehindWaitingJob`). When it
 * returns, the message is committed: it survives a crash at any later instant. Two concurrent requests with one
 * idempotency key end with one message: the loser's insert meets the unique constraint and returns the winner's
 * message (or 409 if its body differs).
 */
export async function acceptMessage(
  deps: StoreDeps,
  target: MessageTarget,
  message: ValidatedMessage,
  idempotency: IdempotentRequest | undefined,
): Promise<{ row: OutboxMessagesTable; created: boolean }> {
  const now = deps.clock.now();
  const id = newId('msg', deps.clock);
  const payload: StoredPayload = {
    to: message.to,
    cc: message.cc,
    bcc: message.bcc,
    replyTo: message.replyTo,
    subject: message.subject,
    ...(message.text === undefined ? {} : { text: message.text }),
    ...(message.html === undefined ? {} : { html: message.html }),
    headers: message.headers,
    ...(message.replyToGraphId === undefined ? {} : { replyToGraphId: message.replyToGraphId }),
  };
  const account = target.account;
  const held = account !== undefined && HOLDING_STATUSES.has(account.status);
  const row: OutboxMessagesTable = {
    id,
    organization_id: target.organizationId,
    account_id: account?.id ?? null,
    owner_external_id: target.ownerExternalId,
    provider: target.provider,
    lane: target.lane,
    status: 'queued',
    from_address: target.fromAddress,
    subject: message.subject,
    payload: JSON.stringify(payload),
    recipient_count: message.recipientCount,
    attachment_count: message.attachments.length,
    size_bytes: message.contentBytes + message.attachmentBytes,
    idempotency_key: idempotency?.key ?? null,
    request_hash: idempotency?.hash ?? null,
    internet_message_id: internetMessageIdFor(id, deps.config.publicUrl),
    send_mode: null,
    graph_draft_id: null,
    recovery: null,
    send_at: message.sendAt ?? null,
    next_attempt_at: message.sendAt ?? now,
    lease_owner: null,
    lease_until: null,
    attempts: 0,
    failure_reason: null,
    failure_message: null,
    failure_remediation: null,
    held_reason: null,
    held_detail: null,
    held_since: null,
    held_expires_at: null,
    sent_at: null,
    canceled_at: null,
    bounced_at: null,
    bounce_status: null,
    created_at: now,
    updated_at: now,
    ...(held && account ? heldColumns(deps, now, account.status, account.status_reason) : {}),
  };
  const due = row.next_attempt_at ?? now;
  try {
    const alone = !held && message.attachments.length === 0;
    if (!(alone && (await insertBehindWaitingJob(deps, row, due))))
      await acceptInTransaction(deps, row, message, held, due);
  } catch (error) {
    if (idempotency) {
      // Lost a race on the same key: the other request's message is the answer (or a 409 if it differs).
      const existing = await findIdempotentMessageOrThrow(deps.db, target.organizationId, idempotency);
      if (existing) return { row: existing, created: false };
    }
    throw error;
  }
  return { row, created: true };
}

/**
 * The accept as one autocommitted statement (pg-boss only; issue 14: about 60 % of the send-pipeline bench's accepts,
 * by PostgreSQL's statement log): `INSERT … SELECT … WHERE` the mailbox's job waits and starts no later than the
 * message can be claimed (`due`, or the end of the lane's Retry-After or pacing pause, read in the same statement),
 * that job locked until the statement commits (or the caller's transaction, when `deps.db` is one). The message
 * becomes visible as the lock goes, so no worker fetches the job and misses the message: the job exists exactly when
 * the message does (issue 5 item 2) without an enqueue. False when it inserted nothing (no such job waits, or the
 * engine is not pg-boss) or was not tried (it seldom found one lately, `WaitingJobHitRate`): the caller takes the
 * transaction path.
 */
async function insertBehindWaitingJob(deps: StoreDeps, row: OutboxMessagesTable, due: number): Promise<boolean> {
  const jobs = deps.jobs;
  if (!hasWaitingJobs(jobs)) return false;
  const hits = hitRateOf(jobs);
  if (!hits.worthTrying()) return false;
  const input = { ...row, due };
  const inserted = (await insertsBehindWaitingJobOf(jobs).of(input).changedRows(deps.db, input)) === 1;
  hits.record(inserted);
  return inserted;
}

type JobsWithWaiting = JobEngine & Required<Pick<JobEngine, 'waitingJobStartsBy'>>;

function hasWaitingJobs(jobs: JobEngine | undefined): jobs is JobsWithWaiting {
  return jobs?.waitingJobStartsBy !== undefined;
}
type BehindWaitingJob = OutboxMessagesTable & { due: number };

/** `insertBehindWaitingJob`'s statement as templates, per job engine (its schema is in the text; issue 14). */
const insertsBehindWaitingJob = new WeakMap<object, RowTemplates<BehindWaitingJob, unknown>>();

function insertsBehindWaitingJobOf(jobs: JobsWithWaiting): RowTemplates<BehindWaitingJob, unknown> {
  let templates = insertsBehindWaitingJob.get(jobs);
  if (!templates) {
    templates = new RowTemplates((db, { due, ...row }: BehindWaitingJob) => {
      const columns = Object.keys(row) as Array<keyof OutboxMessagesTable>;
      const pause = db
        .selectFrom('outbox_pacing')
        .select((eb) => eb.fn<number>('greatest', ['throttled_until', 'paced_until']).as('until'))
        .where('lane', '=', row.lane);
      const claimableAt = sql<number>`greatest(${due}::bigint, ${pause})`;
      const values = db
        .selectNoFrom((eb) => columns.map((column) => eb.val(row[column]).as(column)))
        .where(jobs.waitingJobStartsBy(JOBS.outboxMailbox, row.lane, claimableAt));
      return db.insertInto('outbox_messages').columns(columns).expression(values);
    });
    insertsBehindWaitingJob.set(jobs, templates);
  }
  return templates;
}

/**
 * How often the one-statement accept found its mailbox's job waiting lately, per job engine (a moving average over
 * about the last 50 tries). A hit saves two statements and a miss costs one, so below a third it costs more than it
 * saves: then it is tried on one accept in ten only, to notice when it pays again. Workers that fetch jobs as soon as
 * they are due leave few waiting: with two workers the send-pipeline bench's accepts went from 5.6 to 6.8 statements
 * (README Performance).
 */
export class WaitingJobHitRate {
  #rate = 1;
  #skipped = 0;

  worthTrying(): boolean {
    if (this.#rate >= 1 / 3) return true;
    // Counted as decided, not as answered: concurrent accepts decide before the earlier tries record their answer.
    if (this.#skipped >= 9) {
      this.#skipped = 0;
      return true;
    }
    this.#skipped++;
    return false;
  }

  record(hit: boolean): void {
    this.#rate += ((hit ? 1 : 0) - this.#rate) / 50;
  }
}

const hitRates = new WeakMap<object, WaitingJobHitRate>();

function hitRateOf(jobs: object): WaitingJobHitRate {
  const known = hitRates.get(jobs);
  if (known) return known;
  const rate = new WaitingJobHitRate();
  hitRates.set(jobs, rate);
  return rate;
}

/** Every accepted message's INSERT (issue 14: templates, src/db/statement-template.ts). */
const messageInserts = new RowTemplates((db, row: OutboxMessagesTable) => db.insertInto('outbox_messages').values(row));

/** The INSERT that also reads the lane's pause, which the lane's pg-boss job must wait out. */
const messageInsertsReadingPause = new RowTemplates((db, row: OutboxMessagesTable) =>
  db
    .insertInto('outbox_messages')
    .values(row)
    .returning((eb) => [
      eb.selectFrom('outbox_pacing').select('throttled_until').where('lane', '=', row.lane).as('throttled_until'),
      eb.selectFrom('outbox_pacing').select('paced_until').where('lane', '=', row.lane).as('paced_until'),
    ]),
);

/**
 * The message, its attachments and its `message.held` event or its mailbox's job, in one transaction. On SQLite it
 * commits together with the other writes asked for in the same turn of the event loop (group commit,
 * src/db/group-commit.ts): commits were half of `mailbridge start`'s SQLite time at 500 accepts/s (README, accept
 * latency), and each request still answers only once its own message is committed.
 */
async function acceptInTransaction(
  deps: StoreDeps,
  row: OutboxMessagesTable,
  message: ValidatedMessage,
  held: boolean,
  due: number,
): Promise<void> {
  await groupCommit(deps.db, deps.dialect, async (trx) => {
    // With pg-boss the lane's job starts after the lane's pause, read in the INSERT's own round trip (issue 14). The
    // waiting job is not read here: locked FOR SHARE by two accepts of one lane, each one's merge UPDATE would wait
    // for the other's lock (a deadlock); an accept that finds it early enough took the one-statement path instead.
    const readsPause = deps.jobs?.kind === 'pg-boss' && !held;
    let pause: LanePause | undefined;
    if (readsPause) {
      const inserted = await messageInsertsReadingPause.of(row).firstRow(trx, row);
      pause = { throttled_until: inserted?.throttled_until ?? null, paced_until: inserted?.paced_until ?? null };
    } else {
      await messageInserts.of(row).changedRows(trx, row);
    }
    for (const [position, attachment] of message.attachments.entries()) {
      const attachmentRow: OutboxAttachmentsTable = {
        id: newId('att', deps.clock),
        message_id: row.id,
        position,
        name: attachment.name,
        content_type: attachment.contentType,
        size_bytes: attachment.sizeBytes,
        content_base64: attachment.contentBase64,
      };
      await trx.insertInto('outbox_attachments').values(attachmentRow).execute();
    }
    if (held) await recordMessageEvent(trx, deps, row, 'message.held', heldEventData(row));
    // The mailbox's job, in this transaction: it exists exactly when the message does (issue 5 item 2).
    else await wakeLane(trx, deps, row.lane, due, pause);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Views

export interface MessageAttemptView {
  number: number;
  outcome: string;
  step: string | null;
  claimedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  httpStatus: number | null;
  graphCode: string | null;
  requestId: string | null;
  clientRequestId: string | null;
  /** What Microsoft (or the relay) said. */
  detail: string | null;
  retryAfterMs: number | null;
  evidence: ErrorEvidence | null;
}

export interface MessageView {
  id: string;
  status: MessageStatus;
  provider: OutboxMessagesTable['provider'];
  accountId: string | null;
  ownerId: string | null;
  from: string;
  to: MailAddress[];
  cc: MailAddress[];
  bcc: MailAddress[];
  replyTo: MailAddress[];
  subject: string;
  hasText: boolean;
  hasHtml: boolean;
  headers: Array<{ name: string; value: string }>;
  attachments: Array<{ name: string; contentType: string; sizeBytes: number }>;
  recipientCount: number;
  sizeBytes: number;
  internetMessageId: string;
  idempotencyKey: string | null;
  sendAt: string | null;
  nextAttemptAt: string | null;
  attemptCount: number;
  sentAt: string | null;
  canceledAt: string | null;
  failure: { reason: string; message: string | null; remediation: unknown } | null;
  held: { reason: string; detail: string | null; since: string | null; expiresAt: string | null } | null;
  /** A non-delivery report for it arrived (status `bounced`): its enhanced status code and when it was found. */
  bounce: { status: string; at: string } | null;
  createdAt: string;
  updatedAt: string;
  /** The attempt log (only on `GET /v1/messages/{id}`). */
  attempts?: MessageAttemptView[];
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function toMessageView(
  row: OutboxMessagesTable,
  attachments: Array<Pick<OutboxAttachmentsTable, 'name' | 'content_type' | 'size_bytes'>> = [],
  attempts?: OutboxAttemptsTable[],
): MessageView {
  const payload = JSON.parse(row.payload) as StoredPayload;
  return {
    id: row.id,
    status: row.status,
    provider: row.provider,
    accountId: row.account_id,
    ownerId: row.owner_external_id,
    from: row.from_address,
    to: payload.to,
    cc: payload.cc,
    bcc: payload.bcc,
    replyTo: payload.replyTo,
    subject: row.subject,
    hasText: payload.text !== undefined,
    hasHtml: payload.html !== undefined,
    headers: payload.headers,
    attachments: attachments.map((each) => ({
      name: each.name,
      contentType: each.content_type,
      sizeBytes: Number(each.size_bytes),
    })),
    recipientCount: row.recipient_count,
    sizeBytes: Number(row.size_bytes),
    internetMessageId: row.internet_message_id,
    idempotencyKey: row.idempotency_key,
    sendAt: isoTimeOrNull(row.send_at),
    nextAttemptAt: row.status === 'queued' ? isoTimeOrNull(row.next_attempt_at) : null,
    attemptCount: row.attempts,
    sentAt: isoTimeOrNull(row.sent_at),
    canceledAt: isoTimeOrNull(row.canceled_at),
    failure:
      row.failure_reason === null
        ? null
        : {
            reason: row.failure_reason,
            message: row.failure_message,
            remediation: parseJson(row.failure_remediation),
          },
    bounce:
      row.status === 'bounced' && row.bounce_status !== null && row.bounced_at !== null
        ? { status: row.bounce_status, at: isoTimeOrNull(row.bounced_at) as string }
        : null,
    held:
      row.status === 'held' && row.held_reason !== null
        ? {
            reason: row.held_reason,
            detail: row.held_detail,
            since: isoTimeOrNull(row.held_since),
            expiresAt: isoTimeOrNull(row.held_expires_at),
          }
        : null,
    createdAt: isoTimeOrNull(row.created_at) ?? '',
    updatedAt: isoTimeOrNull(row.updated_at) ?? '',
    ...(attempts === undefined ? {} : { attempts: attempts.map(toAttemptView) }),
  };
}

function toAttemptView(row: OutboxAttemptsTable): MessageAttemptView {
  return {
    number: row.number,
    outcome: row.outcome,
    step: row.step,
    claimedAt: isoTimeOrNull(row.claimed_at) ?? '',
    startedAt: isoTimeOrNull(row.started_at),
    finishedAt: isoTimeOrNull(row.finished_at),
    durationMs: row.duration_ms,
    httpStatus: row.http_status,
    graphCode: row.graph_code,
    requestId: row.request_id,
    clientRequestId: row.client_request_id,
    detail: row.detail,
    retryAfterMs: row.retry_after_ms === null ? null : Number(row.retry_after_ms),
    evidence: parseJson(row.evidence) as ErrorEvidence | null,
  };
}

/** The message with its attachments' metadata and its attempt log, or 404 (also for another organisation's). */
export async function getMessageViewOrThrow(
  db: Kysely<Database>,
  organizationId: string,
  messageId: string,
): Promise<MessageView> {
  return messageViewOf(db, await findMessageOrThrow(db, organizationId, messageId));
}

/** The view of a message row already read: its attachments' names and its attempt log added. */
export async function messageViewOf(db: Kysely<Database>, row: OutboxMessagesTable): Promise<MessageView> {
  const attachments = await db
    .selectFrom('outbox_attachments')
    .select(['name', 'content_type', 'size_bytes'])
    .where('message_id', '=', row.id)
    .orderBy('position')
    .execute();
  const attempts = await db
    .selectFrom('outbox_attempts')
    .selectAll()
    .where('message_id', '=', row.id)
    .orderBy('number')
    .execute();
  return toMessageView(row, attachments, attempts);
}

export async function findMessageOrThrow(
  db: Kysely<Database>,
  organizationId: string,
  messageId: string,
): Promise<OutboxMessagesTable> {
  const row = await db
    .selectFrom('outbox_messages')
    .selectAll()
    .where('id', '=', messageId)
    .where('organization_id', '=', organizationId)
    .executeTakeFirst();
  if (!row) {
    throw outboxError('OUTBOX_MESSAGE_NOT_FOUND', `No message ${messageId.slice(0, 64)} in this organisation.`);
  }
  return row;
}

export interface MessageListFilter {
  status?: MessageStatus;
  accountId?: string;
  ownerId?: string;
  /** The `id` of the last message of the previous page (newest first). */
  before?: string;
  limit: number;
}

/** An organisation's messages, newest first, `limit` per page; `nextCursor` continues after the last one. */
export async function listMessageViews(
  db: Kysely<Database>,
  organizationId: string,
  filter: MessageListFilter,
): Promise<{ data: MessageView[]; nextCursor: string | null }> {
  let query = db.selectFrom('outbox_messages').selectAll().where('organization_id', '=', organizationId);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.accountId) query = query.where('account_id', '=', filter.accountId);
  if (filter.ownerId) query = query.where('owner_external_id', '=', filter.ownerId);
  if (filter.before) query = query.where('id', '<', filter.before);
  const rows = await query
    .orderBy('id', 'desc')
    .limit(filter.limit + 1)
    .execute();
  const page = rows.slice(0, filter.limit);
  const attachments =
    page.length === 0
      ? []
      : await db
          .selectFrom('outbox_attachments')
          .select(['message_id', 'name', 'content_type', 'size_bytes', 'position'])
          .where(
            'message_id',
            'in',
            page.map((row) => row.id),
          )
          .orderBy('position')
          .execute();
  return {
    data: page.map((row) =>
      toMessageView(
        row,
        attachments.filter((each) => each.message_id === row.id),
      ),
    ),
    nextCursor: rows.length > filter.limit ? (page.at(-1)?.id ?? null) : null,
  };
}

/**
 * Cancels a message that has not left: `queued` or `held` → `canceled` with `message.canceled`. A message already
 * canceled is returned as it is (a repeated cancel is not an error); any other state is 409 with where it is. The
 * update is conditional on the state, so a dispatcher claiming the message at the same instant wins or loses
 * cleanly: never both.
 */
export async function cancelMessage(deps: StoreDeps, organizationId: string, messageId: string): Promise<MessageView> {
  const row = await findMessageOrThrow(deps.db, organizationId, messageId);
  if (row.status === 'canceled') return messageViewOf(deps.db, row);
  const now = deps.clock.now();
  const canceled = await withTransaction(deps.db, async (trx) => {
    const updated = await trx
      .updateTable('outbox_messages')
      .set({ status: 'canceled', canceled_at: now, next_attempt_at: null, updated_at: now })
      .where('id', '=', row.id)
      .where('status', 'in', ['queued', 'held'])
      .returningAll()
      .executeTakeFirst();
    if (updated) {
      await dropAttachmentContent(trx, updated);
      await recordMessageEvent(trx, deps, updated, 'message.canceled', {
        status: 'canceled',
        previousStatus: row.status,
      });
    }
    return updated;
  });
  if (canceled) return messageViewOf(deps.db, canceled);
  // Not updated: it moved on meanwhile (or another cancel won, which is the same answer).
  const current = await findMessageOrThrow(deps.db, organizationId, messageId);
  if (current.status !== 'canceled') {
    throw outboxError(
      'OUTBOX_MESSAGE_NOT_CANCELABLE',
      current.status === 'sending'
        ? 'The message is being sent right now and can no longer be canceled.'
        : `The message is ${current.status}; only queued or held messages can be canceled.`,
      { status: current.status },
    );
  }
  return messageViewOf(deps.db, current);
}
