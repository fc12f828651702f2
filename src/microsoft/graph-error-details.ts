import { GRAPH_CODE } from './aadsts-codes.js';

/**
 * Graph error codes that mean different things depending on what Graph says with them. Where a code alone is
 * ambiguous, the exact message Microsoft sends (as recorded in public reports) names the case. The match is exact
 * (trimmed), row by row, each with its source: never a search through free text. The result travels on the evidence
 * as the structured field `graphDetail`, which is what decisions read. @see issue 15
 */
export const GRAPH_DETAIL = {
  /**
   * The mailbox's named-property quota is full (every distinct custom `x-` header name, extended property or open
   * extension name uses one, for good). Only items that need a new name fail; the mailbox still sends.
   */
  NAMED_PROPERTY_QUOTA: 'named_property_quota',
  /** An Exchange policy disables REST (OData) access to this mailbox for the app: only an admin can lift it. */
  ODATA_DISABLED: 'odata_disabled',
  /** The mailbox could not be found: the user has no Exchange Online mailbox (no licence) or it is gone. */
  MAILBOX_NOT_DISCOVERED: 'mailbox_not_discovered',
} as const;

export type GraphDetail = (typeof GRAPH_DETAIL)[keyof typeof GRAPH_DETAIL];

interface RecordedMessage {
  code: string;
  message: string;
  detail: GraphDetail;
  /** Where Microsoft was recorded sending it. */
  source: string;
}

export const RECORDED_GRAPH_MESSAGES: readonly RecordedMessage[] = [
  {
    code: GRAPH_CODE.QUOTA_EXCEEDED,
    message: 'Cannot get ID from name.',
    detail: GRAPH_DETAIL.NAMED_PROPERTY_QUOTA,
    source:
      '[OBS] microsoftgraph/msgraph-sdk-java#767 (403), MicrosoftDocs/OfficeDocs-O365ServiceDescriptions#527 (named properties)',
  },
  {
    code: GRAPH_CODE.ACCESS_DENIED,
    message: 'Access to OData is disabled.',
    detail: GRAPH_DETAIL.ODATA_DISABLED,
    source: '[OBS] OfficeDev/office-js-docs-pr#2808 (403), microsoft/MHA#49',
  },
  {
    code: GRAPH_CODE.RESOURCE_NOT_FOUND,
    message: 'Resource could not be discovered.',
    detail: GRAPH_DETAIL.MAILBOX_NOT_DISCOVERED,
    source:
      '[OBS] microsoftgraph/microsoft-graph-docs-contrib#6882 (404 on /me/sendMail), #4341 (alternates with MailboxNotEnabledForRESTAPI)',
  },
];

/** The detail a recorded (code, message) pair names, or undefined. */
export function graphDetailOf(code: string | undefined, message: unknown): GraphDetail | undefined {
  if (code === undefined || typeof message !== 'string') return undefined;
  const text = message.trim();
  return RECORDED_GRAPH_MESSAGES.find((row) => row.code === code && row.message === text)?.detail;
}
