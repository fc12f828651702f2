import type { AccountsTable } from '../db/tables/accounts.js';
import type { OutboxAttachmentsTable } from '../db/tables/outbox.js';
import type { GraphClient, GraphResponse } from '../graph/graph-client.js';
import { GraphError } from '../graph/graph-error.js';
import type { GraphFileAttachment, GraphOutgoingMessage, GraphRecipient } from '../graph/graph-types.js';
import { classifyHealth } from '../health/classify-health.js';
import type { Health } from '../health/health.js';
import { MESSAGE_REFUSAL_REMEDIATION, remediationFor } from '../health/remediation.js';
import { isRetryable } from '../health/retry-policy.js';
import { exponentialDelayMs, withJitter } from '../platform/backoff.js';
import type { ServiceDeps } from '../services.js';
import { TokenError } from '../tokens/token-error.js';
import type { PlaintextSecret } from '../vault/secret-types.js';
import {
  type AttemptRecord,
  finishAttempt,
  LeaseLostError,
  type MessageChange,
  markStarted,
  renewLease,
} from './attempt-outcome.js';
import { accountRemediation } from './held-messages.js';
import {
  MAX_INLINE_ATTACHMENT_BYTES,
  MAX_INLINE_REQUEST_BYTES,
  type MailAddress,
  type StoredPayload,
} from './message-input.js';
import { canUseDrafts, HOLDING_STATUSES, REFUSING_STATUSES } from './message-target.js';
import type { Claim } from './pacing.js';

/**
 * Sends one claimed message through Microsoft Graph from its account (issue 4 item 5, docs/engineering.md §9):
 * - accounts with Mail.ReadWrite send through a draft that carries our own Message-ID (`POST /me/messages` then
 *   `/send`); after an unknown outcome the next attempt looks for that Message-ID in Sent Items and the Outbox
 *   (found: it was sent, done) and Drafts (found: delete the unsent draft, send again), so a message is never sent
 *   twice;
 * - send-only accounts use `POST /me/sendMail`, which answers 202 with no id: after a timeout or a dropped
 *   connection nothing can tell whether it left, so by default the message ends `outcome_unknown` (at most once);
 *   `MAILBRIDGE_SEND_UNKNOWN_OUTCOME=retry` sends it again (at least once).
 * Every request that may send is preceded by a committed `started` mark (`markStarted`), so a process killed at any
 * instant leaves an attempt that recovery treats exactly like an unknown outcome.
 */

/** What the outbox needs of the token provider (`AccessTokenProvider` satisfies it). */
export interface AccessTokenSource {
  /** Calls `fn` with a valid access token; refreshes once and repeats on a Graph 401. Throws `TokenError`. */
  withAccessToken<T>(accountId: string, fn: (token: PlaintextSecret) => Promise<T>): Promise<T>;
}

export interface DeliveryContext {
  tokens: AccessTokenSource;
  graph: GraphClient;
  /** How long to wait after an unknown outcome before looking for the message (Sent Items may lag). */
  lookupDelayMs: number;
  maxAttempts: number;
}

type DeliveryDeps = Pick<
  ServiceDeps,
  'db' | 'clock' | 'events' | 'config' | 'dialect' | 'logger' | 'metrics' | 'outboxListeners'
>;

function recipients(addresses: MailAddress[]): GraphRecipient[] {
  return addresses.map((each) => ({
    emailAddress: each.name === undefined ? { address: each.address } : { address: each.address, name: each.name },
  }));
}

function fileAttachment(row: OutboxAttachmentsTable): GraphFileAttachment {
  return {
    '@odata.type': '#microsoft.graph.fileAttachment',
    name: row.name,
    contentType: row.content_type,
    contentBytes: row.content_base64,
  };
}

/**
 * The Graph message. Graph carries one body: HTML when given (Outlook derives the plain-text part itself), text
 * otherwise. Our Message-ID travels as `internetMessageId` (writable on creation). @see docs/graph.md §3.1
 */
export function graphMessageOf(
  payload: StoredPayload,
  internetMessageId: string,
  attachments: OutboxAttachmentsTable[],
): GraphOutgoingMessage & { internetMessageId: string } {
  const message: GraphOutgoingMessage & { internetMessageId: string } = {
    subject: payload.subject,
    body:
      payload.html !== undefined
        ? { contentType: 'HTML', content: payload.html }
        : { contentType: 'Text', content: payload.text ?? '' },
    toRecipients: recipients(payload.to),
    ccRecipients: recipients(payload.cc),
    bccRecipients: recipients(payload.bcc),
    internetMessageId,
  };
  if (payload.replyTo.length > 0) message.replyTo = recipients(payload.replyTo);
  if (payload.headers.length > 0) message.internetMessageHeaders = payload.headers;
  if (attachments.length > 0) message.attachments = attachments.map(fileAttachment);
  return message;
}

/** Whether the attachments can travel inside the create-draft (or sendMail) request itself. */
function fitsInline(payload: StoredPayload, attachments: OutboxAttachmentsTable[]): boolean {
  if (attachments.some((each) => Number(each.size_bytes) >= MAX_INLINE_ATTACHMENT_BYTES)) return false;
  const content = Buffer.byteLength(payload.text ?? '') + Buffer.byteLength(payload.html ?? '');
  const base64 = attachments.reduce((sum, each) => sum + each.content_base64.length, 0);
  return content + base64 + 16 * 1024 <= MAX_INLINE_REQUEST_BYTES;
}

/** `5 s × 2^(n-1)`, at most 10 minutes, ±20 % jitter so retried messages spread out. */
export function retryDelayMs(attemptNumber: number): number {
  return Math.round(withJitter(exponentialDelayMs(attemptNumber, 5_000, 600_000), 0.2, Math.random));
}

interface Progress {
  step: string;
  startedAt: number;
  /** A request that may have sent has left (for send-only accounts: sendMail). */
  mode: 'draft' | 'sendMail';
}

export async function deliverThroughGraph(deps: DeliveryDeps, claim: Claim, context: DeliveryContext): Promise<void> {
  const message = claim.message;
  const startedAt = performance.now();
  const finish = (
    attempt: AttemptRecord,
    change: MessageChange,
    finding?: { account: AccountsTable; health: Health },
  ) => finishAttempt(deps, claim, attempt, change, { startedAtMs: startedAt, ...(finding ? { finding } : {}) });

  // Read by the claim a moment ago, in its transaction (the lane of a Graph message is its account).
  const account = message.account_id === claim.account?.id ? claim.account : undefined;
  if (!account) {
    await finish(
      { outcome: 'not_sent', detail: 'The account no longer exists.' },
      { kind: 'failed', reason: 'account_deleted', message: 'The account was deleted before the message was sent.' },
    );
    return;
  }
  const blocked = accountBlock(account);
  if (blocked) {
    await finish({ outcome: blocked.kind === 'held' ? 'held' : 'not_sent', detail: blocked.detail }, blocked);
    return;
  }

  const payload = JSON.parse(message.payload) as StoredPayload;
  const attachments =
    message.attachment_count === 0
      ? []
      : await deps.db
          .selectFrom('outbox_attachments')
          .selectAll()
          .where('message_id', '=', message.id)
          .orderBy('position')
          .execute();
  const drafts = canUseDrafts(account);
  const progress: Progress = { step: 'sendMail', startedAt, mode: drafts ? 'draft' : 'sendMail' };

  try {
    if (message.recovery === 'lookup' && drafts) {
      progress.step = 'lookup';
      await renewLease(deps, claim);
      const found = await findOurMessage(context, account.id, message.internet_message_id);
      if (found.sent) {
        await finish(
          { outcome: 'found', step: 'lookup', detail: `Found in ${found.sent} by its Message-ID: it was sent.` },
          { kind: 'sent' },
        );
        return;
      }
      for (const draftId of found.drafts) {
        // An unsent draft of an earlier attempt: remove it so exactly one copy is ever sent.
        await context.tokens.withAccessToken(account.id, (token) =>
          context.graph.deleteMessage(token.reveal(), draftId),
        );
      }
    } else if (claim.previousOutcome === 'unknown' && !(message.send_mode === 'draft' && drafts)) {
      // The previous attempt's request may have been accepted and nothing can tell (send-only, or the account lost
      // Mail.ReadWrite since): the unknown-outcome policy decides.
      if (deps.config.outbox.unknownOutcome === 'fail') {
        await finish(
          {
            outcome: 'not_sent',
            detail: 'Not sent again: the previous attempt may have been accepted (at most once).',
          },
          { kind: 'outcome_unknown', message: UNKNOWN_MESSAGE },
        );
        return;
      }
    }

    if (drafts) {
      await sendThroughDraft(deps, claim, context, account, payload, attachments, progress, finish);
    } else {
      progress.step = 'sendMail';
      const markSent = startMarkOnce(() =>
        markStarted(deps, claim, 'sendMail', { send_mode: 'sendMail', recovery: null }),
      );
      const answer = await context.tokens.withAccessToken(account.id, async (token) => {
        await markSent();
        return context.graph.sendMail(
          token.reveal(),
          graphMessageOf(payload, message.internet_message_id, attachments),
          { saveToSentItems: true },
        );
      });
      await finish(accepted(answer, 'sendMail'), { kind: 'sent' });
    }
  } catch (error) {
    if (error instanceof LeaseLostError) {
      deps.logger.warn({ messageId: message.id }, 'outbox: lease lost; another worker has the message');
      return;
    }
    await finishAfterError(deps, claim, context, account, progress, error, finish);
  }
}

const UNKNOWN_MESSAGE =
  'The request to Microsoft left but no answer came back (timeout or dropped connection), and this send-only ' +
  'account cannot be searched to find out whether it was sent; it is not sent again (at most once).';

async function sendThroughDraft(
  deps: DeliveryDeps,
  claim: Claim,
  context: DeliveryContext,
  account: AccountsTable,
  payload: StoredPayload,
  attachments: OutboxAttachmentsTable[],
  progress: Progress,
  finish: (attempt: AttemptRecord, change: MessageChange) => Promise<boolean>,
): Promise<void> {
  const inline = fitsInline(payload, attachments);
  const message = graphMessageOf(payload, claim.message.internet_message_id, inline ? attachments : []);
  progress.step = 'createDraft';
  // From here on, until the attempt ends `sent`, the next attempt looks for our Message-ID first.
  const markDraft = startMarkOnce(() =>
    markStarted(deps, claim, 'createDraft', { send_mode: 'draft', recovery: 'lookup', graph_draft_id: null }),
  );
  const replyTo = payload.replyToGraphId;
  const draft = await context.tokens.withAccessToken(account.id, async (token) => {
    await markDraft();
    if (replyTo === undefined) return context.graph.createDraft(token.reveal(), message);
    // A threaded reply (warm-up, docs/warmup.md §E): Exchange gives the draft its own Message-ID, which is recorded
    // before the send below, so a later lookup (recovery) looks for the id the sent message really carries. The id
    // answered is the warm-up engine's immutable id; [GUESS] Graph resolves it in a path without the Prefer header
    // (docs/warmup.md §W, immutable ids).
    return context.graph.createReply(token.reveal(), replyTo, {
      message: { body: message.body, toRecipients: message.toRecipients },
    });
  });
  const assignedId = replyTo === undefined ? undefined : draft.data.internetMessageId;
  await renewLease(deps, claim, {
    graph_draft_id: draft.data.id,
    ...(assignedId === undefined ? {} : { internet_message_id: assignedId }),
  });
  if (!inline) {
    for (const attachment of attachments) {
      progress.step = 'uploadAttachment';
      await renewLease(deps, claim);
      const bytes = Buffer.from(attachment.content_base64, 'base64');
      if (bytes.byteLength < MAX_INLINE_ATTACHMENT_BYTES) {
        await context.tokens.withAccessToken(account.id, (token) =>
          context.graph.addAttachment(token.reveal(), draft.data.id, fileAttachment(attachment)),
        );
      } else {
        await context.tokens.withAccessToken(account.id, (token) =>
          context.graph.uploadLargeAttachment(token.reveal(), draft.data.id, {
            name: attachment.name,
            contentType: attachment.content_type,
            bytes,
          }),
        );
      }
    }
  }
  progress.step = 'sendDraft';
  const markSend = startMarkOnce(() => markStarted(deps, claim, 'sendDraft'));
  const answer = await context.tokens.withAccessToken(account.id, async (token) => {
    await markSend();
    return context.graph.sendDraft(token.reveal(), draft.data.id);
  });
  await finish(accepted(answer, 'sendDraft'), { kind: 'sent' });
}

/**
 * The `started` mark is written once the access token is in hand, right before the request that may send: a crash
 * during a slow token refresh then leaves a message that never left as claimed, not as an unknown outcome. A retry
 * after a 401 (the request was refused, so it did not send) reuses the mark.
 */
function startMarkOnce(mark: () => Promise<unknown>): () => Promise<void> {
  let marked = false;
  return async () => {
    if (marked) return;
    await mark();
    marked = true;
  };
}

function accepted(answer: GraphResponse<unknown>, step: string): AttemptRecord {
  return {
    outcome: 'accepted',
    step,
    httpStatus: answer.status,
    ...(answer.requestId === undefined ? {} : { requestId: answer.requestId }),
    clientRequestId: answer.clientRequestId,
    detail: `${answer.status} Accepted`,
  };
}

/** Looks for our Message-ID: in Sent Items or the Outbox it was sent; in Drafts it was not (yet). */
async function findOurMessage(
  context: DeliveryContext,
  accountId: string,
  internetMessageId: string,
): Promise<{ sent: string | null; drafts: string[] }> {
  // Our ids never contain a quote; OData doubles quotes inside string literals anyway.
  const filter = `internetMessageId eq '${internetMessageId.replaceAll("'", "''")}'`;
  const list = (folder: string) =>
    context.tokens.withAccessToken(accountId, (token) =>
      context.graph.listMessages(token.reveal(), folder, {
        filter,
        select: ['id', 'internetMessageId', 'isDraft'],
        top: 10,
      }),
    );
  for (const folder of ['sentitems', 'outbox']) {
    const page = await list(folder);
    if (page.data.value.length > 0) return { sent: folder === 'sentitems' ? 'Sent Items' : 'the Outbox', drafts: [] };
  }
  const drafts = await list('drafts');
  return { sent: null, drafts: drafts.data.value.map((each) => each.id) };
}

/** A held or failed outcome when the account cannot send right now; undefined when it can. */
function accountBlock(
  account: AccountsTable,
): (Extract<MessageChange, { kind: 'held' | 'failed' }> & { detail: string }) | undefined {
  if (HOLDING_STATUSES.has(account.status)) {
    return {
      kind: 'held',
      status: account.status,
      reason: account.status_reason,
      detail: `The account is ${account.status}${account.status_reason ? ` (${account.status_reason})` : ''}: held.`,
    };
  }
  if (REFUSING_STATUSES.has(account.status)) {
    const remediation = accountRemediation(account.status, account.status_reason);
    return {
      kind: 'failed',
      reason: account.status === 'disconnected' ? 'account_disconnected' : 'mailbox_unusable',
      message:
        account.status === 'disconnected'
          ? 'The account was disconnected before the message was sent.'
          : `The mailbox cannot send (${account.status_reason ?? 'unusable'}).`,
      detail: account.status_reason ?? account.status,
      ...(remediation ? { remediation } : {}),
    };
  }
  return undefined;
}

/** Turns what went wrong into the attempt's outcome and the message's next state. */
async function finishAfterError(
  deps: DeliveryDeps,
  claim: Claim,
  context: DeliveryContext,
  account: AccountsTable,
  progress: Progress,
  error: unknown,
  finish: (
    attempt: AttemptRecord,
    change: MessageChange,
    finding?: { account: AccountsTable; health: Health },
  ) => Promise<boolean>,
): Promise<void> {
  const now = deps.clock.now();
  const retryOrGiveUp = (at: number, extra: Partial<Extract<MessageChange, { kind: 'retry' }>> = {}): MessageChange =>
    claim.attemptNumber >= context.maxAttempts
      ? {
          kind: 'failed',
          reason: 'retries_exhausted',
          message: `Gave up after ${claim.attemptNumber} attempts; the last one: ${describe(error)}.`,
          remediation: RETRIES_EXHAUSTED_REMEDIATION,
        }
      : { kind: 'retry', at, ...extra };

  if (error instanceof TokenError) {
    // No token, so no Graph request left on this step.
    const attempt: AttemptRecord = { outcome: 'not_sent', step: progress.step, detail: error.message };
    if (error.evidence) attempt.evidence = error.evidence;
    if (error.code === 'TOKENS_ACCOUNT_NOT_FOUND') {
      await finish(attempt, { kind: 'failed', reason: 'account_deleted', message: 'The account no longer exists.' });
      return;
    }
    // The token provider recorded what the refresh said about the account: if it now needs a person (consent
    // revoked, password changed…) the message waits in `held`; otherwise the failure was transient.
    const fresh = await deps.db.selectFrom('accounts').selectAll().where('id', '=', account.id).executeTakeFirst();
    const blocked = fresh ? accountBlock(fresh) : undefined;
    if (blocked) {
      await finish({ ...attempt, outcome: blocked.kind === 'held' ? 'held' : 'not_sent' }, blocked);
      return;
    }
    // A token that could not be had (Microsoft briefly unavailable, the operator's app rejected) sent nothing: it
    // does not use up the attempt budget; the message waits, as a held one would, until it is too old.
    const waitedMs = now - Number(claim.message.created_at);
    await finish(
      attempt,
      waitedMs > deps.config.outbox.heldMessageTtlMs
        ? {
            kind: 'failed',
            reason: 'retries_exhausted',
            message: `No access token for ${Math.round(waitedMs / 3_600_000)} h; the last error: ${error.message}.`,
            remediation: RETRIES_EXHAUSTED_REMEDIATION,
          }
        : { kind: 'retry', at: error.retryAt ?? now + retryDelayMs(Math.min(claim.attemptNumber, 8)) },
    );
    return;
  }

  if (!(error instanceof GraphError)) throw error;
  const evidence = error.evidence;
  const record: AttemptRecord = {
    outcome: 'rejected',
    step: progress.step,
    evidence,
    detail: evidence.description ?? error.message,
    ...(evidence.httpStatus === undefined ? {} : { httpStatus: evidence.httpStatus }),
    ...(evidence.graphCode === undefined ? {} : { graphCode: evidence.graphCode }),
    ...(evidence.requestId === undefined ? {} : { requestId: evidence.requestId }),
    ...(evidence.clientRequestId === undefined ? {} : { clientRequestId: evidence.clientRequestId }),
    ...(evidence.retryAfterMs === undefined ? {} : { retryAfterMs: evidence.retryAfterMs }),
  };

  // Account-level answers: the account needs a person (held) or the mailbox cannot send (failed). A 401 reaches us
  // only after withAccessToken refreshed once and was refused again; the token provider recorded it already.
  const health = classifyHealth(evidence, { afterFreshRefresh: evidence.httpStatus === 401 });
  if (health.status === 'reconnect_required' || health.status === 'admin_approval_pending') {
    const finding = evidence.httpStatus === 401 ? undefined : await freshFinding(deps, account, health);
    await finish(record, { kind: 'held', status: health.status, reason: health.reason }, finding);
    return;
  }
  if (health.status === 'mailbox_unusable') {
    const finding = await freshFinding(deps, account, health);
    await finish(
      record,
      {
        kind: 'failed',
        reason: 'mailbox_unusable',
        detail: health.reason,
        message: `Microsoft refused to send from this mailbox (${evidence.graphCode ?? evidence.httpStatus}).`,
        remediation: remediationFor(health),
      },
      finding,
    );
    return;
  }

  const decision = isRetryable(evidence);
  if (decision.retry) {
    if (decision.outcome === 'not_sent') record.outcome = 'not_sent';
    const waitMs = decision.afterMs ?? retryDelayMs(claim.attemptNumber);
    const throttled = evidence.httpStatus === 429 || evidence.httpStatus === 503 || health.status === 'degraded';
    await finish(
      record,
      retryOrGiveUp(
        now + waitMs,
        throttled && decision.outcome !== 'not_sent' ? { throttleLaneUntil: now + waitMs } : {},
      ),
    );
    return;
  }
  if (decision.outcome === 'unknown') {
    record.outcome = 'unknown';
    if (progress.mode === 'draft') {
      // The next attempt looks for our Message-ID before sending again (recovery = lookup is already set).
      await finish(record, retryOrGiveUp(now + context.lookupDelayMs, { recovery: 'lookup' }));
    } else if (deps.config.outbox.unknownOutcome === 'retry') {
      await finish(record, retryOrGiveUp(now + retryDelayMs(claim.attemptNumber)));
    } else {
      await finish(record, { kind: 'outcome_unknown', message: UNKNOWN_MESSAGE });
    }
    return;
  }

  // Microsoft refused this message (bad recipients, too large, a named-property quota…): final, and sending it again
  // would fail again. The account is untouched: its mailbox still sends.
  const code = evidence.graphCode ?? String(evidence.httpStatus ?? 'error');
  const named = evidence.graphDetail === undefined ? undefined : MESSAGE_REFUSAL_REMEDIATION[evidence.graphDetail];
  await finish(record, {
    kind: 'failed',
    reason: 'rejected_by_microsoft',
    detail: evidence.graphDetail ?? code,
    message: `Microsoft refused the message: ${code}${evidence.description ? ` (${evidence.description})` : ''}.`,
    remediation: named ?? {
      title: 'Refused by Microsoft',
      user: `Microsoft refused this message (${code}). Check its recipients and content, then send it again.`,
      operator: `Graph answered ${evidence.httpStatus ?? '?'} ${code} (request-id ${evidence.requestId ?? 'n/a'}) at step ${progress.step}; the message is not retried because the same request would be refused again.`,
    },
  });
}

async function freshFinding(
  deps: DeliveryDeps,
  account: AccountsTable,
  health: Health,
): Promise<{ account: AccountsTable; health: Health }> {
  const fresh = await deps.db.selectFrom('accounts').selectAll().where('id', '=', account.id).executeTakeFirst();
  return { account: fresh ?? account, health };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const RETRIES_EXHAUSTED_REMEDIATION = {
  title: 'Could not be sent',
  user: 'Microsoft kept refusing or throttling this message for too long. Try sending it again later.',
  operator:
    'The message was retried the maximum number of times (transient errors, throttling). Check the attempt log for what Microsoft answered.',
};
