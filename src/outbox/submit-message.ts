import type { AccountWithOwner } from '../accounts/account-view.js';
import type { ServiceDeps } from '../services.js';
import { checkFitsCarrierOrThrow, validateMessageOrThrow } from './message-input.js';
import {
  acceptMessage,
  findIdempotentMessageOrThrow,
  type IdempotentRequest,
  type MessageView,
  messageViewOf,
  requestHash,
  toMessageView,
} from './message-store.js';
import { resolveAccountTargetOrThrow, resolveOwnerTargetOrThrow } from './message-target.js';

/**
 * From an account, or through an owner's preferred provider. `account`: the account as the caller already read it
 * in the organisation (null: it has none with that id), to save the read.
 */
export type MessageDestination =
  | { accountId: string; account?: AccountWithOwner | null | undefined }
  | { ownerId: string };

/**
 * Submits a message as the API does (the dashboard's "send a test email" calls it too): the idempotency key first
 * (a retry of an accepted request gets its message back even if the account changed since), then the destination
 * (404 / 409), the body (precise 4xx codes), what the account can carry, and the one transaction that stores it.
 * `created` is false when an earlier request with the same key made the message. Throws `AppError` for bad input;
 * nothing is written then.
 */
export async function submitMessage(
  deps: ServiceDeps,
  organizationId: string,
  destination: MessageDestination,
  body: unknown,
  options: { idempotencyKey?: string | undefined } = {},
): Promise<{ created: boolean; message: MessageView }> {
  const targetPath = 'accountId' in destination ? `accounts/${destination.accountId}` : `owners/${destination.ownerId}`;
  const idempotency: IdempotentRequest | undefined =
    options.idempotencyKey === undefined
      ? undefined
      : { key: options.idempotencyKey, hash: requestHash(targetPath, body ?? null) };
  if (idempotency) {
    const existing = await findIdempotentMessageOrThrow(deps.db, organizationId, idempotency);
    if (existing) return { created: false, message: await messageViewOf(deps.db, existing) };
  }
  const target =
    'accountId' in destination
      ? await resolveAccountTargetOrThrow(deps.db, organizationId, destination.accountId, destination.account)
      : await resolveOwnerTargetOrThrow(deps, organizationId, destination.ownerId);
  const message = validateMessageOrThrow(
    body,
    { maxRecipientsPerMessage: deps.config.outbox.maxRecipientsPerMessage },
    deps.clock.now(),
  );
  checkFitsCarrierOrThrow(message, target.carrier);
  const { row, created } = await acceptMessage(deps, target, message, idempotency);
  if (!created) return { created: false, message: await messageViewOf(deps.db, row) };
  const attachments = message.attachments.map((each) => ({
    name: each.name,
    content_type: each.contentType,
    size_bytes: each.sizeBytes,
  }));
  return { created: true, message: toMessageView(row, attachments) };
}
