import type { EmulatorContext, FaultRule, MailboxUsage, RequestLogEntry, SendingLimits } from '../context.js';
import type {
  AdminApprovalRequest,
  AppRegistration,
  DeliveryRecord,
  Mailbox,
  MailFolder,
  MailMessage,
  OutsideMessage,
  PendingDelivery,
  Tenant,
  User,
  UserConsent,
} from '../state/model.js';
import { graphUserId } from '../state/personal-accounts.js';

/**
 * What the control API shows of the world. Passwords, second-factor codes and client secret values never leave
 * through these views (a secret's value is returned once, when it is created); tokens and codes exist in the world
 * only as digests and are shown as counts. Times are ISO 8601 on the emulator's clock.
 */

export function iso(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

function isoOrNull(epochMs: number | null): string | null {
  return epochMs === null || epochMs === 0 ? null : iso(epochMs);
}

export function tenantView(tenant: Tenant) {
  return {
    id: tenant.id,
    displayName: tenant.displayName,
    kind: tenant.kind,
    domains: tenant.domains,
    userConsent: tenant.userConsent,
    adminOnlyScopes: tenant.adminOnlyScopes,
    adminConsentWorkflow: tenant.adminConsentWorkflow,
    adminConsents: tenant.adminConsents,
  };
}

export function userView(user: User) {
  return {
    id: user.id,
    /** Graph's `user.id`: the oid for work accounts, a 16-hex-digit CID for personal ones. */
    graphId: graphUserId(user),
    tenantId: user.tenantId,
    kind: user.kind,
    email: user.email,
    displayName: user.displayName,
    givenName: user.givenName,
    surname: user.surname,
    isAdmin: user.isAdmin,
    hasSecondFactor: user.secondFactorCode !== null,
    disabled: user.disabled,
    mailboxEnabled: user.mailboxEnabled,
    conditionalAccessBlocked: user.conditionalAccessBlocked,
    restrictedSender: user.restrictedSender === true,
    mailboxFull: user.mailboxFull === true,
    mfaRequiredFrom: isoOrNull(user.mfaRequiredFrom),
    tokensValidFrom: isoOrNull(user.tokensValidFrom),
    createdAt: iso(user.createdAt),
  };
}

/** A user with their grants and a count of the tokens Microsoft would still honour. */
export function userDetailView(ctx: EmulatorContext, user: User) {
  const now = ctx.clock.now();
  const refreshTokens = Object.values(ctx.world.refreshTokens).filter((record) => record.userId === user.id);
  const accessTokens = Object.values(ctx.world.accessTokens).filter((record) => record.userId === user.id);
  return {
    ...userView(user),
    consents: Object.values(ctx.world.consents)
      .filter((consent) => consent.userId === user.id)
      .map(consentView),
    tokens: {
      refreshTokensLive: refreshTokens.filter(
        (record) => !record.revoked && record.expiresAt > now && record.issuedAt >= user.tokensValidFrom,
      ).length,
      refreshTokensTotal: refreshTokens.length,
      accessTokensLive: accessTokens.filter((record) => record.expiresAt > now).length,
    },
  };
}

export function consentView(consent: UserConsent) {
  return {
    userId: consent.userId,
    clientId: consent.clientId,
    scopes: consent.scopes,
    grantedAt: iso(consent.grantedAt),
  };
}

export function appView(ctx: EmulatorContext, app: AppRegistration) {
  const now = ctx.clock.now();
  return {
    clientId: app.clientId,
    displayName: app.displayName,
    homeTenantId: app.homeTenantId,
    signInAudience: app.signInAudience,
    redirectUris: app.redirectUris,
    publicClient: app.publicClient,
    requiredScopes: app.requiredScopes,
    secrets: app.secrets.map((secret) => ({
      id: secret.id,
      hint: secret.hint,
      expiresAt: iso(secret.expiresAt),
      expired: secret.expiresAt <= now,
    })),
  };
}

export function approvalRequestView(ctx: EmulatorContext, request: AdminApprovalRequest) {
  return {
    id: request.id,
    tenantId: request.tenantId,
    clientId: request.clientId,
    appDisplayName: ctx.world.apps[request.clientId]?.displayName ?? null,
    userId: request.userId,
    userEmail: ctx.world.users[request.userId]?.email ?? null,
    scopes: request.scopes,
    justification: request.justification,
    createdAt: iso(request.createdAt),
    status: request.status,
  };
}

export function faultView(ctx: EmulatorContext, rule: FaultRule) {
  return { ...rule, userEmail: rule.userId ? (ctx.world.users[rule.userId]?.email ?? null) : null };
}

export function folderView(mailbox: Mailbox, folder: MailFolder) {
  const messages = Object.values(mailbox.messages).filter((message) => message.parentFolderId === folder.id);
  return {
    id: folder.id,
    displayName: folder.displayName,
    wellKnownName: folder.wellKnownName,
    parentFolderId: folder.parentFolderId,
    totalItemCount: messages.length,
    unreadItemCount: messages.filter((message) => !message.isRead).length,
  };
}

export function mailboxView(ctx: EmulatorContext, user: User, mailbox: Mailbox) {
  return {
    userId: user.id,
    email: user.email,
    mailboxEnabled: user.mailboxEnabled,
    reputation: mailbox.reputation,
    folders: Object.values(mailbox.folders).map((folder) => folderView(mailbox, folder)),
    rules: mailbox.rules,
    settings: mailbox.settings,
    messageCount: Object.keys(mailbox.messages).length,
    usage: Object.values(ctx.usage)
      .filter((usage) => usage.userId === user.id)
      .map((usage) => usageView(ctx, usage)),
  };
}

/** A stored message; attachment contents are left out (their sizes stay) unless asked for. */
export function messageView(mailbox: Mailbox, message: MailMessage, options: { attachmentContent?: boolean } = {}) {
  const folder = mailbox.folders[message.parentFolderId];
  return {
    ...message,
    folder: folder ? (folder.wellKnownName ?? folder.displayName) : null,
    attachments: message.attachments.map((attachment) =>
      options.attachmentContent
        ? attachment
        : {
            id: attachment.id,
            name: attachment.name,
            contentType: attachment.contentType,
            size: attachment.size,
            isInline: attachment.isInline,
          },
    ),
  };
}

export function deliveryView(ctx: EmulatorContext, record: DeliveryRecord) {
  return {
    ...record,
    at: iso(record.at),
    // Records saved before delays existed were delivered when submitted.
    submittedAt: iso(record.submittedAt ?? record.at),
    senderEmail: record.senderUserId ? (ctx.world.users[record.senderUserId]?.email ?? null) : null,
  };
}

/** A submission the transport holds (over the per-minute rate): when it was accepted and when it will go. */
export function pendingDeliveryView(ctx: EmulatorContext, pending: PendingDelivery) {
  const message = pending.message;
  return {
    id: pending.id,
    submittedAt: iso(pending.submittedAt),
    dueAt: iso(pending.dueAt),
    senderUserId: pending.senderUserId,
    senderEmail: pending.senderUserId ? (ctx.world.users[pending.senderUserId]?.email ?? null) : null,
    from: pending.from.address,
    subject: message.subject,
    internetMessageId: message.internetMessageId ?? null,
    recipients: [...message.toRecipients, ...message.ccRecipients, ...message.bccRecipients].map((each) =>
      each.emailAddress.address.toLowerCase(),
    ),
    via: pending.via,
  };
}

export function outsideView(message: OutsideMessage) {
  return { ...message, at: iso(message.at) };
}

export function requestLogView(entry: RequestLogEntry) {
  return { ...entry, at: iso(entry.at) };
}

/** Usage of one app + mailbox pair against the limits that apply to it, as of now on the emulator clock. */
export function usageView(ctx: EmulatorContext, usage: MailboxUsage) {
  const now = ctx.clock.now();
  const user = ctx.world.users[usage.userId];
  const sending: SendingLimits = user?.kind === 'personal' ? ctx.settings.limits.outlook : ctx.settings.limits.exchange;
  const lastDay = usage.recentSends.filter((send) => send.at > now - 86_400_000);
  return {
    clientId: usage.clientId,
    userId: usage.userId,
    email: user?.email ?? null,
    inFlight: usage.inFlight,
    maxInFlight: usage.maxInFlight,
    requestsLast10Minutes: usage.recentRequests.filter((at) => at > now - 600_000).length,
    sendsLastMinute: usage.recentSends.filter((send) => send.at > now - 60_000).length,
    sendsLast24h: lastDay.length,
    recipientsLast24h: lastDay.reduce((sum, send) => sum + send.recipients, 0),
    throttled: usage.throttled,
    limits: {
      requestsPer10Minutes: ctx.settings.limits.requestsPer10Minutes,
      concurrentRequestsPerMailbox: ctx.settings.limits.concurrentRequestsPerMailbox,
      sending,
    },
  };
}

export function clockView(ctx: EmulatorContext) {
  // One reading: `now` and `nowMs` must name the same instant even when a millisecond passes in between.
  const now = ctx.clock.now();
  return {
    now: iso(now),
    nowMs: now,
    offsetMs: ctx.clock.offsetMs,
    offsetSeconds: Math.round(ctx.clock.offsetMs / 1000),
    frozen: ctx.clock.frozen,
  };
}
