import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { listAccounts } from '../../accounts/account-view.js';
import type { MessageStatus } from '../../db/tables/outbox.js';
import { AppError } from '../../errors/app-error.js';
import { accountRemediation } from '../../outbox/held-messages.js';
import type { StoredPayload } from '../../outbox/message-input.js';
import {
  cancelMessage,
  findMessageOrThrow,
  listMessageViews,
  MESSAGE_STATUSES,
  messageViewOf,
} from '../../outbox/message-store.js';
import { HOLDING_STATUSES, REFUSING_STATUSES, resolveOwnerTargetOrThrow } from '../../outbox/message-target.js';
import { outboxError } from '../../outbox/outbox-errors.js';
import { submitMessage } from '../../outbox/submit-message.js';
import { getOwner } from '../../owners/owners.js';
import { randomToken } from '../../platform/ids.js';
import type { ServiceDeps } from '../../services.js';
import type { PageNotice } from './accounts-pages.js';
import {
  type ComposeFields,
  chosenAccountId,
  composeFieldOf,
  emptyComposeFields,
  FORM_KEY_PATTERN,
  FROM_PREFERRED,
  fromAccount,
  messageBodyFromForm,
  readComposeForm,
} from './compose-form.js';
import { type ComposeAccount, type ComposeModel, type PreferredProvider, renderComposePage } from './compose-page.js';
import { type DashboardContext, type DashboardContextOf, ensureSignedInOwner, sendHtml } from './dashboard-context.js';
import { renderMessagePage, renderMessagesPage } from './messages-pages.js';

export const MESSAGES_PAGE_SIZE = 25;
const MESSAGE_ID = /^msg_[0-9a-z]{26}$/;
/** A user's own mailboxes, as the communication settings list them. */
const OWN_ACCOUNT_LIMIT = 200;

/**
 * The dashboard's sending pages (issue 4 item 7), inside the dashboard plugin (its session hook, form tokens and
 * HTML error pages apply):
 * - `GET /dashboard/messages`: the organisation's messages with their status, filter by status, older pages;
 * - `GET|POST /dashboard/messages/new`: send a test email from one of the user's own mailboxes or through their
 *   preferred provider, through `submitMessage` (the API's validation and codes) with one idempotency key per
 *   rendered form, so a double submit sends once;
 * - `GET /dashboard/messages/:id`: status with reason and what to do, attempt timeline, recipients, body preview;
 * - `POST /dashboard/messages/:id/cancel`.
 * Another organisation's message is "Not found", as one that does not exist.
 */
export function registerMessagePages(scope: FastifyInstance, deps: ServiceDeps, contextOf: DashboardContextOf): void {
  scope.get('/messages', async (request, reply) => {
    const { signedIn, organizationId } = contextOf(request);
    const query = request.query as Record<string, string | undefined>;
    const status = (MESSAGE_STATUSES as readonly string[]).includes(query['status'] ?? '')
      ? (query['status'] as MessageStatus)
      : undefined;
    const before = query['before'] !== undefined && MESSAGE_ID.test(query['before']) ? query['before'] : undefined;
    const page = await listMessageViews(deps.db, organizationId, {
      ...(status ? { status } : {}),
      ...(before ? { before } : {}),
      limit: MESSAGES_PAGE_SIZE,
    });
    return sendHtml(
      reply,
      renderMessagesPage({ signedIn, messages: page.data, status, before, nextCursor: page.nextCursor }),
    );
  });

  // The signed-in user is their own owner: the row exists from their first look at where their mail would go, before
  // the compose form reads their preferred provider or sends through it. Ensured here, once per request.
  const withOwnOwner = {
    preHandler: async (request: FastifyRequest) => {
      await ensureSignedInOwner(deps, contextOf(request));
    },
  };

  scope.get('/messages/new', withOwnOwner, async (request, reply) =>
    sendHtml(reply, renderComposePage(await composeModel(deps, contextOf(request), undefined))),
  );

  scope.post('/messages/new', withOwnOwner, async (request, reply) =>
    sendComposeForm(deps, contextOf(request), request, reply),
  );

  scope.get('/messages/:id', async (request, reply) => {
    const context = contextOf(request);
    const { id } = request.params as { id: string };
    const query = request.query as Record<string, string | undefined>;
    const pageNotice: PageNotice | undefined =
      query['sent'] !== undefined
        ? { kind: 'info', text: 'Accepted: the message is stored and will be sent.' }
        : query['resubmitted'] !== undefined
          ? {
              kind: 'info',
              text: 'This form had already been sent: this is the message it made (sent once).',
            }
          : query['canceled'] !== undefined
            ? { kind: 'info', text: 'Canceled: the message will not be sent.' }
            : undefined;
    return sendHtml(reply, await messagePage(deps, context, id, pageNotice));
  });

  scope.post('/messages/:id/cancel', async (request, reply) => {
    const context = contextOf(request);
    const { id } = request.params as { id: string };
    if (!MESSAGE_ID.test(id)) throw outboxError('OUTBOX_MESSAGE_NOT_FOUND', 'No such message in this organisation.');
    try {
      await cancelMessage(deps, context.organizationId, id);
    } catch (error) {
      if (error instanceof AppError && error.code === 'OUTBOX_MESSAGE_NOT_CANCELABLE') {
        return sendHtml(reply, await messagePage(deps, context, id, { kind: 'error', text: error.message }), 409);
      }
      throw error;
    }
    return reply.redirect(`/dashboard/messages/${encodeURIComponent(id)}?canceled=1`, 303);
  });
}

/**
 * `POST /dashboard/messages/new`: validates the form, sends through `submitMessage` with the form's idempotency key,
 * and answers the message's page, or the form again with what to fix.
 */
async function sendComposeForm(
  deps: ServiceDeps,
  context: DashboardContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const fields = readComposeForm(request.body);
  const again = async (status: number, error: NonNullable<ComposeModel['error']>, values = fields) =>
    sendHtml(reply, renderComposePage(await composeModel(deps, context, values, error)), status);

  if (!FORM_KEY_PATTERN.test(fields.formKey)) {
    // Without its key a repeated submit could send twice: a fresh form (with what was typed) to send again.
    return again(
      400,
      { text: 'This form is incomplete. Check it and send again.', field: undefined },
      {
        ...fields,
        formKey: newFormKey(),
      },
    );
  }
  const accountId = chosenAccountId(fields.from);
  let destination: { accountId: string } | { ownerId: string };
  if (fields.from === FROM_PREFERRED) {
    destination = { ownerId: context.signedIn.ownerExternalId };
  } else if (
    accountId !== undefined &&
    (await ownAccounts(deps, context)).some((account) => account.id === accountId)
  ) {
    destination = { accountId };
  } else {
    // Only the user's own mailboxes: a test email from someone else's address would be sent in their name.
    return again(400, { text: 'Choose one of your own email accounts, or your preferred provider.', field: 'from' });
  }

  try {
    const answer = await submitMessage(deps, context.organizationId, destination, messageBodyFromForm(fields), {
      // Per user and per rendered form; keys are per organisation and shared with the API's.
      idempotencyKey: `dashboard:${context.session.user.id}:${fields.formKey}`,
    });
    const flag = answer.created ? 'sent=1' : 'resubmitted=1';
    return reply.redirect(`/dashboard/messages/${encodeURIComponent(answer.message.id)}?${flag}`, 303);
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500) throw error;
    if (error.code === 'IDEMPOTENCY_KEY_REUSED') {
      // This form already sent a message and was then changed: that message stands; a new key sends this one.
      const earlier = error.details?.['messageId'];
      return again(
        409,
        {
          text: 'This form was already used to send a message. Check the fields, then press Send again to send this one as a new message.',
          field: undefined,
          earlierMessageId: typeof earlier === 'string' ? earlier : undefined,
        },
        { ...fields, formKey: newFormKey() },
      );
    }
    return again(error.status, { text: error.message, field: composeFieldOf(error) });
  }
}

/** The user's own Microsoft mailboxes (not disconnected ones), as "send from" choices. */
async function ownAccounts(deps: ServiceDeps, context: DashboardContext): Promise<ComposeAccount[]> {
  const page = await listAccounts(deps.db, context.organizationId, {
    ownerExternalId: context.signedIn.ownerExternalId,
    limit: OWN_ACCOUNT_LIMIT,
  });
  return page.data
    .filter((row) => row.provider === 'microsoft' && row.status !== 'disconnected')
    .map((row) => ({
      id: row.id,
      email: row.email,
      status: row.status,
      holds: HOLDING_STATUSES.has(row.status),
      refuses: REFUSING_STATUSES.has(row.status),
    }));
}

/** Where the user's preferred provider sends from now: the outbox's own decision, read without sending. */
async function preferredProvider(deps: ServiceDeps, context: DashboardContext): Promise<PreferredProvider> {
  const ownerId = context.signedIn.ownerExternalId;
  try {
    const target = await resolveOwnerTargetOrThrow(deps, context.organizationId, ownerId);
    if (target.provider === 'microsoft') return { kind: 'microsoft', email: target.fromAddress };
    const owner = await getOwner(deps.db, context.organizationId, ownerId);
    return { kind: 'default', sender: target.fromAddress, choseOutlook: owner?.email_provider === 'microsoft' };
  } catch (error) {
    if (error instanceof AppError && error.code === 'OUTBOX_DEFAULT_PROVIDER_NOT_CONFIGURED') {
      return {
        kind: 'unavailable',
        text: 'Your email provider is the default provider, but no mail relay is configured on this server (SMTP_URL), so it cannot send. Choose Personal Outlook in Settings → Communication, or send from one of your accounts.',
      };
    }
    throw error;
  }
}

async function composeModel(
  deps: ServiceDeps,
  context: DashboardContext,
  values: ComposeFields | undefined,
  error?: ComposeModel['error'],
): Promise<ComposeModel> {
  const accounts = await ownAccounts(deps, context);
  const preferred = await preferredProvider(deps, context);
  const firstSending =
    accounts.find((account) => !account.refuses && !account.holds) ?? accounts.find((a) => !a.refuses);
  const defaultFrom = firstSending ? fromAccount(firstSending.id) : FROM_PREFERRED;
  return {
    signedIn: context.signedIn,
    accounts,
    preferred,
    values: values ?? emptyComposeFields(newFormKey(), defaultFrom),
    error,
  };
}

/** A message's page: status with reason and what to do, attempts, recipients, body preview. */
async function messagePage(
  deps: ServiceDeps,
  context: DashboardContext,
  id: string,
  pageNotice?: PageNotice,
): Promise<string> {
  if (!MESSAGE_ID.test(id)) throw outboxError('OUTBOX_MESSAGE_NOT_FOUND', 'No such message in this organisation.');
  const row = await findMessageOrThrow(deps.db, context.organizationId, id);
  const message = await messageViewOf(deps.db, row);
  const payload = JSON.parse(row.payload) as StoredPayload;
  const body =
    payload.text !== undefined
      ? { kind: 'text' as const, content: payload.text }
      : payload.html !== undefined
        ? { kind: 'html' as const, content: payload.html }
        : undefined;
  // The page names the account and offers Reconnect only for a held message.
  const account =
    message.status !== 'held' || message.accountId === null
      ? undefined
      : await deps.db
          .selectFrom('accounts')
          .select(['id', 'email', 'status'])
          .where('id', '=', message.accountId)
          .where('organization_id', '=', context.organizationId)
          .executeTakeFirst();
  return renderMessagePage({
    signedIn: context.signedIn,
    message,
    body,
    heldRemediation: message.held ? accountRemediation(message.held.reason, message.held.detail) : undefined,
    account,
    notice: pageNotice,
  });
}

function newFormKey(): string {
  return randomToken(16);
}
