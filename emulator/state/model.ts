/**
 * The emulated Microsoft world: tenants, users, app registrations, grants, tokens and mailboxes.
 * Plain data only (JSON-serialisable) so that the whole state can be snapshotted to a file and restored.
 * Times are epoch milliseconds on the emulator's clock.
 */

/** The tenant id that every personal Microsoft account (Outlook.com, Hotmail) belongs to. */
export const CONSUMER_TENANT_ID = '9188040d-6c67-4c5b-b112-36a304b66dad';

export interface Tenant {
  id: string;
  displayName: string;
  kind: 'organization' | 'consumer';
  /** Verified domains, lower case (`contoso.onmicrosoft.com`, `contoso.com`). */
  domains: string[];
  /** `forbidden`: users may not consent to any app (AADSTS90093/90094 for non-admins). */
  userConsent: 'allowed' | 'forbidden';
  /** Scopes only an admin may consent to in this tenant (non-admins see "Approval required"). */
  adminOnlyScopes: string[];
  /** With the admin consent workflow on, a blocked user can request approval (AADSTS90095); off: AADSTS90094. */
  adminConsentWorkflow: boolean;
  /** Tenant-wide consent granted by an admin, per client id: the scopes it covers. */
  adminConsents: Record<string, string[]>;
}

export type UserKind = 'work' | 'personal';

export interface User {
  /**
   * The object id (`oid` in id_tokens, `uid` in `client_info`) and the emulator's key for the user. Work accounts:
   * a GUID equal to Graph's `user.id`. Personal accounts: `00000000-0000-0000-xxxx-xxxxxxxxxxxx`, NOT Graph's id
   * (see `graphId`). @see docs/entra.md §1.6
   */
  id: string;
  /**
   * Personal accounts only: Graph's `user.id`, a 16-hex-digit CID such as `fde926f844473904` [OBS]
   * (docs/entra.md §1.6). Absent for work accounts (Graph's id is
   * the oid); `graphUserId()` reads it.
   */
  graphId?: string;
  tenantId: string;
  kind: UserKind;
  /** Sign-in name and primary SMTP address, lower case. */
  email: string;
  displayName: string;
  givenName: string;
  surname: string;
  /** The emulator's stand-in credential. This is a test double: it is kept as given. */
  password: string;
  isAdmin: boolean;
  /** A second-factor code the sign-in page asks for after the password, or null for none. */
  secondFactorCode: string | null;
  disabled: boolean;
  /** False: Graph answers MailboxNotEnabledForRESTAPI (unlicensed, soft-deleted, on-premises). */
  mailboxEnabled: boolean;
  /** Refresh tokens issued before this instant are revoked (password change, revoke sessions): AADSTS50173. */
  tokensValidFrom: number;
  /** Refresh tokens issued before this instant need a new MFA sign-in: AADSTS50076. Null: no such demand. */
  mfaRequiredFrom: number | null;
  /** Conditional Access blocks this user's token requests: AADSTS53003. */
  conditionalAccessBlocked: boolean;
  /**
   * Exchange made this sender a "restricted user" (too much spam, usually a compromised account): Graph still
   * accepts its mail and every message bounces with NDR 550 5.1.8 (docs/graph.md §3.3). Absent: not restricted.
   */
  restrictedSender?: boolean;
  /**
   * The mailbox is over its quota: mail to it is refused with NDR 554 5.2.2 to the sender (the emulator's answer to
   * "the recipient's mailbox is full"; see non-delivery.ts). Absent: not full.
   */
  mailboxFull?: boolean;
  createdAt: number;
}

export interface ClientSecret {
  id: string;
  /** The secret value. Emulator state only; never echoed by the control API after creation. */
  value: string;
  /** First three characters, as Entra shows them. */
  hint: string;
  expiresAt: number;
}

export type SignInAudience =
  | 'AzureADandPersonalMicrosoftAccount'
  | 'AzureADMultipleOrgs'
  | 'AzureADMyOrg'
  | 'PersonalMicrosoftAccount';

export interface AppRegistration {
  clientId: string;
  displayName: string;
  homeTenantId: string;
  signInAudience: SignInAudience;
  redirectUris: string[];
  secrets: ClientSecret[];
  /** A public client may not authenticate with a secret (AADSTS700025). */
  publicClient: boolean;
  /** The statically configured permissions (`/.default`, legacy admin consent), e.g. `Mail.Send`. */
  requiredScopes: string[];
}

/** A user's own consent to an app: the delegated scopes granted (short names, e.g. `Mail.Send`). */
export interface UserConsent {
  userId: string;
  clientId: string;
  scopes: string[];
  grantedAt: number;
}

export interface AuthorizationCode {
  /** A digest of the code, never the code itself. */
  codeHash: string;
  clientId: string;
  redirectUri: string;
  userId: string;
  scopes: string[];
  nonce: string | null;
  codeChallenge: string | null;
  codeChallengeMethod: 'S256' | 'plain' | null;
  /** The tenant segment the flow used (`common`, a GUID …); redeeming under another tenant is AADSTS700005. */
  tenantSegment: string;
  issuedAt: number;
  expiresAt: number;
  redeemed: boolean;
  /** The `sid` of the browser session that produced the code. */
  sessionId: string;
}

export interface RefreshTokenRecord {
  tokenHash: string;
  clientId: string;
  userId: string;
  scopes: string[];
  issuedAt: number;
  /** Sliding inactivity expiry: 90 days after issue; using it yields a new token with a new window. */
  expiresAt: number;
  revoked: boolean;
  /** Session the chain started from (for `sid` in refreshed id_tokens). */
  sessionId: string;
  /**
   * How many refresh grants this token answered with new tokens (Microsoft accepts a redeemed refresh token again:
   * counted so tests can show a client never redeems one twice, i.e. its single-flight refresh held).
   */
  redemptions?: number;
}

export interface AccessTokenRecord {
  tokenHash: string;
  clientId: string;
  userId: string;
  scopes: string[];
  issuedAt: number;
  expiresAt: number;
}

export interface AdminApprovalRequest {
  id: string;
  tenantId: string;
  clientId: string;
  userId: string;
  scopes: string[];
  justification: string;
  createdAt: number;
  status: 'pending' | 'approved' | 'denied';
}

export interface EmailAddress {
  address: string;
  name?: string;
}

export interface Recipient {
  emailAddress: EmailAddress;
}

export interface InternetMessageHeader {
  name: string;
  value: string;
}

export interface FileAttachment {
  id: string;
  '@odata.type': '#microsoft.graph.fileAttachment';
  name: string;
  contentType: string;
  size: number;
  isInline: boolean;
  /** Base64 content. */
  contentBytes: string;
  lastModifiedDateTime: string;
}

export interface MailMessage {
  /** The current id; changes on move unless the client asked for immutable ids. */
  id: string;
  /** Stable across moves (what `Prefer: IdType="ImmutableId"` returns). */
  immutableId: string;
  parentFolderId: string;
  internetMessageId: string;
  conversationId: string;
  subject: string;
  body: { contentType: 'text' | 'html'; content: string };
  bodyPreview: string;
  from: Recipient | null;
  sender: Recipient | null;
  toRecipients: Recipient[];
  ccRecipients: Recipient[];
  bccRecipients: Recipient[];
  replyTo: Recipient[];
  internetMessageHeaders: InternetMessageHeader[];
  attachments: FileAttachment[];
  isDraft: boolean;
  isRead: boolean;
  importance: 'low' | 'normal' | 'high';
  flag: { flagStatus: 'notFlagged' | 'flagged' | 'complete' };
  categories: string[];
  inferenceClassification: 'focused' | 'other';
  createdDateTime: string;
  lastModifiedDateTime: string;
  receivedDateTime: string;
  sentDateTime: string | null;
  changeKey: string;
  /** `internetMessageId` of the message this one replies to (threading), if any. */
  inReplyTo: string | null;
  /** The emulated user whose send produced this copy (reputation credit for engagement); absent for local items. */
  senderUserId?: string | null;
  /** Engagement already credited to the sender for this copy, so each kind counts once per message. */
  engagement?: Array<'reply' | 'rescue' | 'flag' | 'important' | 'read' | 'junk'>;
  /** Immutable id of the message a reply draft answers (credits the reply when the draft is sent). */
  replyToImmutableId?: string | null;
  /** Monotonic arrival order inside the emulator: tie-break for equal timestamps when listing. */
  sequence?: number;
  /** The mailbox change-log sequence number of this message's last change (delta queries, graph/change-log.ts). */
  changeSeq?: number;
}

/** One change to a message in one folder, as delta queries report it (graph/change-log.ts). */
export interface MailChange {
  seq: number;
  folderId: string;
  /** The message's id in that folder at the time (ids change on move). */
  id: string;
  immutableId: string;
  kind: 'created' | 'updated' | 'removed';
}

export interface MailChangeLog {
  /** The last sequence number given out in this mailbox. */
  lastSeq: number;
  /** Entries up to this sequence number were dropped: older delta tokens are expired. */
  floor: number;
  entries: MailChange[];
}

/** What the reputation model (graph/reputation.ts) remembers of a sender. */
export interface ReputationState {
  /** Messages sent per UTC day (epoch day number → count), within the model's history window only. */
  sendsByDay: Record<string, number>;
  lastSendAt: number | null;
  /** When idle drift was last applied. */
  driftedAt: number;
}

export interface MailFolder {
  id: string;
  displayName: string;
  parentFolderId: string | null;
  /** `inbox`, `junkemail`, `sentitems`… for the well-known folders; null for user-created ones. */
  wellKnownName: string | null;
}

export interface MessageRule {
  id: string;
  displayName: string;
  sequence: number;
  isEnabled: boolean;
  hasError: boolean;
  isReadOnly: boolean;
  conditions: Record<string, unknown>;
  actions: Record<string, unknown>;
  exceptions: Record<string, unknown>;
}

export interface Mailbox {
  userId: string;
  folders: Record<string, MailFolder>;
  messages: Record<string, MailMessage>;
  rules: MessageRule[];
  settings: Record<string, unknown>;
  /**
   * Sender reputation in [0, 1] used by the junk filter (the model in graph/reputation.ts): engagement with the
   * mailbox's mail raises it; volume spikes, bounces and mail filed as junk lower it; idleness drifts it to neutral.
   */
  reputation: number;
  /** Volume history and idle clock of the reputation model; absent until the mailbox first sends. */
  reputationState?: ReputationState;
  /** Delta queries' change log; absent until the first change. */
  changeLog?: MailChangeLog;
}

/** One accepted submission, as Microsoft's transport would log it. */
export interface DeliveryRecord {
  id: string;
  /** When the transport handed it on (later than `submittedAt` when Exchange delayed it, docs/graph.md §3.3). */
  at: number;
  /** When Graph (or the SMTP sink) accepted it. */
  submittedAt: number;
  /** The sending mailbox's user id, or null for mail that came in through the SMTP sink. */
  senderUserId: string | null;
  from: string;
  replyTo: string[];
  recipients: string[];
  subject: string;
  internetMessageId: string;
  via: 'sendMail' | 'sendMailMime' | 'draftSend' | 'reply' | 'smtp';
  /** `status`: the enhanced status code of the non-delivery report, for `ndr`. */
  placements: Array<{
    address: string;
    outcome: 'inbox' | 'junkemail' | 'folder' | 'outside' | 'ndr';
    status?: string;
  }>;
}

/** An accepted submission the transport holds until `dueAt` (emulator clock): mail over the per-minute rate. */
export interface PendingDelivery {
  id: string;
  submittedAt: number;
  dueAt: number;
  senderUserId: string | null;
  from: EmailAddress;
  via: DeliveryRecord['via'];
  /** The message as submitted, its internetMessageId and conversationId fixed. */
  message: import('../graph/delivery.js').SubmittedMessage;
}

/** A message that left the emulated world (its recipient is not an emulated domain). */
export interface OutsideMessage {
  id: string;
  at: number;
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo: string[];
  subject: string;
  body: { contentType: 'text' | 'html'; content: string };
  headers: InternetMessageHeader[];
  internetMessageId: string;
  attachments: Array<{ name: string; contentType: string; size: number }>;
  via: DeliveryRecord['via'];
  /** The recipients this copy left the emulated world for (to, cc and bcc outside emulated domains). */
  envelopeTo?: string[];
}

/** One account signed in at the emulated login page in a browser (an entry of the ESTSAUTH session). */
export interface BrowserSessionAccount {
  userId: string;
  /** The session id: `sid` in id_tokens and `session_state` on redirects. */
  sid: string;
  signedInAt: number;
  /** When this session last passed the second factor, or null. */
  secondFactorAt: number | null;
}

/** A browser's sign-in state at the identity pages, found through its session cookie. */
export interface BrowserSession {
  /** A digest of the cookie value, never the value itself. */
  cookieHash: string;
  createdAt: number;
  accounts: BrowserSessionAccount[];
}

/**
 * An authorize or admin-consent request in progress between the sign-in pages. The pages carry an opaque flow id
 * in a hidden field; the world keeps its digest and the validated request.
 */
export interface SignInFlow {
  flowHash: string;
  kind: 'authorize' | 'adminConsent' | 'legacyAdminConsent';
  /** The `{tenant}` path segment the request used, as given (pages post back to it). */
  tenantSegment: string;
  clientId: string;
  redirectUri: string;
  responseMode: 'query' | 'fragment' | 'form_post';
  state: string | null;
  nonce: string | null;
  /** Requested scopes as short names (`Mail.Send`, `offline_access`), `.default` already expanded. */
  scopes: string[];
  codeChallenge: string | null;
  codeChallengeMethod: 'S256' | 'plain' | null;
  prompt: 'login' | 'none' | 'consent' | 'select_account' | null;
  loginHint: string | null;
  /** The page the user is on. */
  step: 'signIn' | 'pickAccount' | 'secondFactor' | 'consent' | 'approval' | 'approvalSent' | 'adminRequired' | 'done';
  /** The user being signed in, once known (typed in, or taken from the browser session). */
  userId: string | null;
  /** The browser-session `sid` the user signed in with, once signed in. */
  sessionId: string | null;
  createdAt: number;
  expiresAt: number;
}

/** An RSA key the identity endpoints sign id_tokens with; `org` signs work accounts, `consumer` personal ones. */
export interface SigningKey {
  kid: string;
  /** base64url SHA-1 thumbprint of the certificate (equal to `kid`, as Microsoft's v2 keys have it). */
  x5t: string;
  /** The self-signed certificate, base64 DER. */
  x5c: string;
  audience: 'org' | 'consumer';
  publicJwk: { kty: string; n: string; e: string };
  /** The emulator's own private key (a test double, like the users' passwords). */
  privateJwk: Record<string, string>;
  createdAt: number;
}

export interface WorldState {
  tenants: Record<string, Tenant>;
  users: Record<string, User>;
  apps: Record<string, AppRegistration>;
  /** Keyed `${userId}|${clientId}`. */
  consents: Record<string, UserConsent>;
  /** Keyed by code hash. */
  codes: Record<string, AuthorizationCode>;
  /** Keyed by token hash. */
  refreshTokens: Record<string, RefreshTokenRecord>;
  /** Keyed by token hash. */
  accessTokens: Record<string, AccessTokenRecord>;
  adminApprovalRequests: Record<string, AdminApprovalRequest>;
  /** Keyed by user id. */
  mailboxes: Record<string, Mailbox>;
  deliveries: DeliveryRecord[];
  /** Submissions held for later delivery, by `dueAt` (absent in worlds saved before they existed). */
  pendingDeliveries?: PendingDelivery[];
  outside: OutsideMessage[];
  /** Browser sessions at the sign-in pages, keyed by cookie digest. */
  browserSessions: Record<string, BrowserSession>;
  /** Sign-in flows in progress, keyed by flow digest. */
  signInFlows: Record<string, SignInFlow>;
  /**
   * The identity endpoints' signing keys, made on first use. Not part of `emptyWorld()` on purpose: a world reset
   * keeps them, so clients that cached the JWKS keep verifying tokens (Microsoft's keys outlive any account).
   */
  signingKeys?: SigningKey[];
}

export function emptyWorld(): WorldState {
  return {
    tenants: {},
    users: {},
    apps: {},
    consents: {},
    codes: {},
    refreshTokens: {},
    accessTokens: {},
    adminApprovalRequests: {},
    mailboxes: {},
    deliveries: [],
    pendingDeliveries: [],
    outside: [],
    browserSessions: {},
    signInFlows: {},
  };
}
