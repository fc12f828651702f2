/**
 * Hand-written shapes of the Graph v1.0 mail resources mailbridge uses. Only what we read or write is typed;
 * Graph returns more, and unknown properties pass through untouched. (`@microsoft/microsoft-graph-types` would
 * add a large type-only dependency for a few dozen properties.) @see docs/graph.md §3.1
 */

export interface GraphEmailAddress {
  address: string;
  name?: string;
}

export interface GraphRecipient {
  emailAddress: GraphEmailAddress;
}

export interface GraphItemBody {
  contentType: 'Text' | 'HTML' | 'text' | 'html';
  content: string;
}

export interface GraphInternetMessageHeader {
  /** Custom headers must start with `x-`/`X-`; at most 5. @see docs/graph.md §3.1 */
  name: string;
  value: string;
}

export interface GraphFollowupFlag {
  flagStatus: 'notFlagged' | 'complete' | 'flagged';
  startDateTime?: GraphDateTimeTimeZone;
  dueDateTime?: GraphDateTimeTimeZone;
  completedDateTime?: GraphDateTimeTimeZone;
}

export interface GraphDateTimeTimeZone {
  dateTime: string;
  timeZone: string;
}

export type GraphImportance = 'low' | 'normal' | 'high';

export interface GraphFileAttachment {
  '@odata.type': '#microsoft.graph.fileAttachment';
  id?: string;
  name: string;
  contentType?: string;
  /** Base64. Inline attachments must stay under 3 MB; larger ones go through an upload session. */
  contentBytes: string;
  isInline?: boolean;
  contentId?: string;
  size?: number;
}

/** A message as we send it (`sendMail`, drafts, `reply.message`). */
export interface GraphOutgoingMessage {
  subject?: string;
  body?: GraphItemBody;
  toRecipients?: GraphRecipient[];
  ccRecipients?: GraphRecipient[];
  bccRecipients?: GraphRecipient[];
  replyTo?: GraphRecipient[];
  from?: GraphRecipient;
  importance?: GraphImportance;
  flag?: GraphFollowupFlag;
  internetMessageHeaders?: GraphInternetMessageHeader[];
  attachments?: GraphFileAttachment[];
  categories?: string[];
}

/** A message as Graph returns it. */
export interface GraphMessage extends GraphOutgoingMessage {
  id: string;
  internetMessageId?: string;
  conversationId?: string;
  parentFolderId?: string;
  createdDateTime?: string;
  lastModifiedDateTime?: string;
  receivedDateTime?: string;
  sentDateTime?: string;
  isDraft?: boolean;
  isRead?: boolean;
  hasAttachments?: boolean;
  bodyPreview?: string;
  sender?: GraphRecipient;
  inferenceClassification?: 'focused' | 'other';
  webLink?: string;
  [property: string]: unknown;
}

/** What `PATCH /me/messages/{id}` may change. Body, subject, replyTo, internetMessageId: drafts only. */
export interface GraphMessageUpdate {
  isRead?: boolean;
  flag?: GraphFollowupFlag;
  importance?: GraphImportance;
  categories?: string[];
  inferenceClassification?: 'focused' | 'other';
  subject?: string;
  body?: GraphItemBody;
  replyTo?: GraphRecipient[];
  toRecipients?: GraphRecipient[];
  ccRecipients?: GraphRecipient[];
  bccRecipients?: GraphRecipient[];
  internetMessageId?: string;
}

/** `reply` / `createReply` body: `comment` or `message`, not both with a body. @see docs/graph.md §3.1 */
export interface GraphReplyInput {
  comment?: string;
  message?: GraphOutgoingMessage;
}

export interface GraphUser {
  id: string;
  displayName?: string | null;
  /** May be null (e.g. some personal accounts); fall back to `userPrincipalName`. */
  mail?: string | null;
  userPrincipalName?: string;
  givenName?: string | null;
  surname?: string | null;
  [property: string]: unknown;
}

export interface GraphMailFolder {
  id: string;
  displayName: string;
  parentFolderId?: string;
  childFolderCount?: number;
  unreadItemCount?: number;
  totalItemCount?: number;
  isHidden?: boolean;
  wellKnownName?: string;
  [property: string]: unknown;
}

export interface GraphMailboxSettings {
  automaticRepliesSetting?: Record<string, unknown>;
  archiveFolder?: string;
  dateFormat?: string;
  timeFormat?: string;
  timeZone?: string;
  language?: { locale?: string; displayName?: string };
  workingHours?: Record<string, unknown>;
  userPurpose?: string;
  [property: string]: unknown;
}

export interface GraphMessageRulePredicates {
  subjectContains?: string[];
  bodyContains?: string[];
  bodyOrSubjectContains?: string[];
  headerContains?: string[];
  senderContains?: string[];
  fromAddresses?: GraphRecipient[];
  sentToAddresses?: GraphRecipient[];
  [property: string]: unknown;
}

export interface GraphMessageRuleActions {
  moveToFolder?: string;
  copyToFolder?: string;
  markAsRead?: boolean;
  markImportance?: GraphImportance;
  assignCategories?: string[];
  delete?: boolean;
  stopProcessingRules?: boolean;
  [property: string]: unknown;
}

export interface GraphMessageRuleInput {
  displayName: string;
  sequence: number;
  isEnabled?: boolean;
  conditions?: GraphMessageRulePredicates;
  actions?: GraphMessageRuleActions;
  exceptions?: GraphMessageRulePredicates;
}

export interface GraphMessageRule extends GraphMessageRuleInput {
  id: string;
  hasError?: boolean;
  isReadOnly?: boolean;
  [property: string]: unknown;
}

export interface GraphUploadSession {
  uploadUrl: string;
  expirationDateTime: string;
  nextExpectedRanges: string[];
}

export interface GraphAttachmentItem {
  attachmentType: 'file';
  name: string;
  size: number;
  contentType?: string;
  isInline?: boolean;
  contentId?: string;
}

/** A page of a collection. `nextLink` is Graph's `@odata.nextLink`, absent on the last page. */
/** A message a delta round reports as gone from the folder (deleted, or moved out). */
export interface GraphRemovedMessage {
  id: string;
  '@removed': { reason: 'deleted' | 'changed' };
}

/** One page of a delta round, as Graph sends it: `@odata.nextLink` while there is more, then `@odata.deltaLink`. */
export interface GraphDeltaPage {
  value: Array<GraphMessage | GraphRemovedMessage>;
  '@odata.nextLink'?: string;
  '@odata.deltaLink'?: string;
}

export interface GraphPage<T> {
  value: T[];
  nextLink?: string;
  count?: number;
}

/** OData query options Graph accepts on collections. @see docs/graph.md §3.1 */
export interface ODataQuery {
  select?: string[];
  filter?: string;
  orderby?: string[];
  top?: number;
  skip?: number;
  count?: boolean;
  search?: string;
  expand?: string[];
}
