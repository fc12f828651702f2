import { addressOf, classifySmtpFailure, type SmtpProvider } from '../providers/smtp-provider.js';
import type { ServiceDeps } from '../services.js';
import {
  type AttemptRecord,
  finishAttempt,
  LeaseLostError,
  type MessageChange,
  markStarted,
} from './attempt-outcome.js';
import { retryDelayMs } from './graph-delivery.js';
import type { StoredPayload } from './message-input.js';
import type { Claim } from './pacing.js';

type DeliveryDeps = Pick<
  ServiceDeps,
  'db' | 'clock' | 'events' | 'config' | 'dialect' | 'logger' | 'metrics' | 'outboxListeners'
>;

/**
 * Sends one claimed message through the default provider (the SMTP relay). The same guarantees as Graph: a
 * committed `started` mark before DATA can leave; 4yz answers and failures before the relay took anything are
 * retried; a 5yz is final; a connection lost after the message may have been handed over is an unknown outcome,
 * under the same policy as send-only accounts (`MAILBRIDGE_SEND_UNKNOWN_OUTCOME`). After a crash, the unknown
 * outcome of a `started` attempt follows that policy too (a relay cannot be searched).
 */
export async function deliverThroughSmtp(
  deps: DeliveryDeps,
  claim: Claim,
  context: { provider: SmtpProvider | undefined; maxAttempts: number },
): Promise<void> {
  const startedAt = performance.now();
  const message = claim.message;
  const finish = (attempt: AttemptRecord, change: MessageChange) =>
    finishAttempt(deps, claim, attempt, change, { startedAtMs: startedAt });
  const smtp = deps.config.smtp;
  if (!smtp || !context.provider) {
    await finish(
      { outcome: 'not_sent', step: 'smtp', detail: 'No SMTP relay is configured (SMTP_URL).' },
      claim.attemptNumber >= context.maxAttempts
        ? {
            kind: 'failed',
            reason: 'default_provider_not_configured',
            message: 'No SMTP relay is configured for the default provider.',
          }
        : { kind: 'retry', at: deps.clock.now() + retryDelayMs(claim.attemptNumber) },
    );
    return;
  }
  if (claim.previousOutcome === 'unknown' && deps.config.outbox.unknownOutcome === 'fail') {
    await finish(
      { outcome: 'not_sent', step: 'smtp', detail: 'Not sent again: the previous attempt may have been accepted.' },
      { kind: 'outcome_unknown', message: UNKNOWN_SMTP_MESSAGE },
    );
    return;
  }
  const payload = JSON.parse(message.payload) as StoredPayload;
  const attachments = await deps.db
    .selectFrom('outbox_attachments')
    .select(['name', 'content_type', 'content_base64'])
    .where('message_id', '=', message.id)
    .orderBy('position')
    .execute();
  try {
    await markStarted(deps, claim, 'smtp', { send_mode: 'smtp' });
    const accepted = await context.provider.send({
      from: smtp.from,
      envelopeFrom: addressOf(smtp.from),
      to: payload.to,
      cc: payload.cc,
      bcc: payload.bcc,
      replyTo: payload.replyTo,
      subject: payload.subject,
      ...(payload.text === undefined ? {} : { text: payload.text }),
      ...(payload.html === undefined ? {} : { html: payload.html }),
      headers: payload.headers,
      attachments: attachments.map((each) => ({
        name: each.name,
        contentType: each.content_type,
        contentBase64: each.content_base64,
      })),
      messageId: message.internet_message_id,
    });
    const rejected = accepted.rejected.length > 0 ? `; refused recipients: ${accepted.rejected.join(', ')}` : '';
    await finish({ outcome: 'accepted', step: 'smtp', detail: `${accepted.response}${rejected}` }, { kind: 'sent' });
  } catch (error) {
    if (error instanceof LeaseLostError) return;
    const failure = classifySmtpFailure(error);
    const now = deps.clock.now();
    const record = {
      step: 'smtp',
      detail: failure.detail,
      ...(failure.responseCode === undefined ? {} : { httpStatus: failure.responseCode }),
    };
    const retry = (outcome: 'rejected' | 'not_sent' | 'unknown') =>
      finish(
        { ...record, outcome },
        claim.attemptNumber >= context.maxAttempts
          ? {
              kind: 'failed',
              reason: 'retries_exhausted',
              message: `Gave up after ${claim.attemptNumber} attempts; the relay said: ${failure.detail}`,
            }
          : { kind: 'retry', at: now + retryDelayMs(claim.attemptNumber) },
      );
    switch (failure.kind) {
      case 'not_sent':
        await retry('not_sent');
        return;
      case 'temporary':
        await retry('rejected');
        return;
      case 'rejected':
        await finish(
          { ...record, outcome: 'rejected' },
          {
            kind: 'failed',
            reason: 'rejected_by_relay',
            detail: String(failure.responseCode ?? failure.code ?? ''),
            message: `The SMTP relay refused the message: ${failure.detail}`,
            remediation: {
              title: 'Refused by the mail relay',
              user: 'The mail server refused this message. Check its recipients and content, then send it again.',
              operator: `The SMTP relay (SMTP_URL) answered ${failure.detail}.`,
            },
          },
        );
        return;
      case 'unknown':
        if (deps.config.outbox.unknownOutcome === 'retry') await retry('unknown');
        else
          await finish({ ...record, outcome: 'unknown' }, { kind: 'outcome_unknown', message: UNKNOWN_SMTP_MESSAGE });
        return;
    }
  }
}

const UNKNOWN_SMTP_MESSAGE =
  'The connection to the SMTP relay was lost after the message may have been handed over; it is not sent again ' +
  '(at most once).';
