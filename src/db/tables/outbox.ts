/**
 * Tables of the durable outbox (src/outbox/). Created by migration 0003-outbox. Timestamps are epoch ms; JSON
 * columns are text.
 */
export interface OutboxTables {
  outbox_messages: OutboxMessagesTable;
  outbox_attachments: OutboxAttachmentsTable;
  outbox_attempts: OutboxAttemptsTable;
  outbox_pacing: OutboxPacingTable;
  bounce_scans: BounceScansTable;
}

/**
 * `queued` → `sending` → `sent` | `failed` | `outcome_unknown`; `queued` ⇄ `held` (the account needs attention);
 * `queued` | `held` → `canceled`; `sent` | `outcome_unknown` → `bounced` (a non-delivery report for it arrived in the
 * sender's Inbox, src/bounces/). Terminal: failed, canceled, bounced; sent and outcome_unknown only until a report.
 */
export type MessageStatus =
  | 'queued'
  | 'sending'
  | 'sent'
  | 'failed'
  | 'held'
  | 'canceled'
  | 'outcome_unknown'
  | 'bounced';

/** `microsoft`: through Graph from a connected account; `default`: the operator's SMTP relay. */
export type MessageProvider = 'microsoft' | 'default';

export interface OutboxMessagesTable {
  /** `msg_…`: sorts by creation time. */
  id: string;
  organization_id: string;
  /** The sending account (provider `microsoft`); null for the default provider. */
  account_id: string | null;
  /** The host's owner id, when the message was sent for an owner (or the account's owner). */
  owner_external_id: string | null;
  provider: MessageProvider;
  /**
   * The pacing lane: the account id for Graph sends (Microsoft's limits are per mailbox), `default` for the SMTP
   * relay. Claims and budgets are per lane.
   */
  lane: string;
  status: MessageStatus;
  /** The sender as the recipient will see it (the account's address, or the relay's From). */
  from_address: string;
  subject: string;
  /** JSON of the validated message without attachments (see `StoredPayload` in src/outbox/message-input.ts). */
  payload: string;
  recipient_count: number;
  attachment_count: number;
  /** Decoded bytes of body + attachments. */
  size_bytes: number;
  idempotency_key: string | null;
  /** SHA-256 (base64url) of the request's target and body: same key + another body is a 409. */
  request_hash: string | null;
  /** Our own Message-ID, `<mb.{id}@{host}>`: it is how an unknown outcome is resolved in Sent Items. */
  internet_message_id: string;
  /** How the last attempt sent it: `sendMail`, `draft` (create + /send) or `smtp`. */
  send_mode: string | null;
  /** The Graph draft that carries this message (draft mode), once created. */
  graph_draft_id: string | null;
  /** Set when the previous attempt's outcome is unknown: the next attempt looks before it sends again. */
  recovery: 'lookup' | null;
  send_at: number | null;
  /** When a worker may take it (queued), or null when not waiting to be sent. */
  next_attempt_at: number | null;
  lease_owner: string | null;
  lease_until: number | null;
  attempts: number;
  /** Terminal failure or unknown outcome: a code, a message and what to do (JSON of {user, operator}). */
  failure_reason: string | null;
  failure_message: string | null;
  failure_remediation: string | null;
  /** Held: the account's status (reconnect_required…), its reason, since when and until when. */
  held_reason: string | null;
  held_detail: string | null;
  held_since: number | null;
  held_expires_at: number | null;
  sent_at: number | null;
  canceled_at: number | null;
  /** When the non-delivery report was found (status `bounced`), and its enhanced status code (`5.1.90`). */
  bounced_at: number | null;
  bounce_status: string | null;
  created_at: number;
  updated_at: number;
}

export interface OutboxAttachmentsTable {
  id: string;
  message_id: string;
  position: number;
  name: string;
  content_type: string;
  size_bytes: number;
  /** The bytes, base64 (portable across both dialects). */
  content_base64: string;
}

/**
 * One try at sending a message. Written `claimed` with the claim, `started` (committed) before a request that may
 * send leaves, then finished with what Microsoft (or the relay) said. Pacing counts attempts that may have reached
 * the mailbox's sending budget: claimed, started, accepted, unknown.
 */
export interface OutboxAttemptsTable {
  id: string;
  message_id: string;
  lane: string;
  number: number;
  worker_id: string;
  /** claimed | started | accepted | rejected | not_sent | unknown | found | held | abandoned. */
  outcome: string;
  /** What the attempt did last: sendMail, createDraft, uploadAttachment, sendDraft, lookup, smtp. */
  step: string | null;
  recipient_count: number;
  claimed_at: number;
  started_at: number | null;
  finished_at: number | null;
  duration_ms: number | null;
  http_status: number | null;
  graph_code: string | null;
  request_id: string | null;
  client_request_id: string | null;
  /** What Microsoft (or the relay) said, for people: capped, never a token. */
  detail: string | null;
  /** JSON of the structured evidence (ErrorEvidence), when there was an error. */
  evidence: string | null;
  retry_after_ms: number | null;
}

/** Per lane (mailbox): when Microsoft's Retry-After or our own budgets let it send again, and fairness order. */
export interface OutboxPacingTable {
  lane: string;
  /** Retry-After of a 429/503 for this mailbox only. */
  throttled_until: number | null;
  /** Our own budget (per minute, per 24 h) is spent until then. */
  paced_until: number | null;
  /** Round-robin: lanes served longest ago go first. */
  last_claimed_at: number | null;
  updated_at: number;
}

/** The non-delivery-report reader's state per account (src/bounces/bounce-scan.ts). Created by migration 0008. */
export interface BounceScansTable {
  account_id: string;
  /** Epoch ms of the newest `receivedDateTime` examined: the next look asks Graph for mail received since. */
  watermark: number;
  /** When the next look is due (indexed); null when none is planned. */
  next_scan_at: number | null;
  /** Looks continue until then; every Graph send moves it on. */
  active_until: number;
  updated_at: number;
}
