/**
 * Tables of the warm-up engine (src/warmup/). Created by migration 0012-warmup. Timestamps are epoch ms; JSON
 * columns are text.
 */
export interface WarmupTables {
  warmup_accounts: WarmupAccountsTable;
  warmup_messages: WarmupMessagesTable;
}

export interface WarmupAccountsTable {
  account_id: string;
  organization_id: string;
  /** The user's switch: 1 on, 0 off (docs/warmup.md §G: kept apart from the safety state). */
  enabled: number;
  /** `microsoft365` | `outlook_com`. */
  provider: string;
  /** JSON of the user's options (`WarmupUserOptions`), validated before it is written. */
  settings: string;
  /** The seed of the mailbox's random draws (docs/warmup.md §R). */
  seed: string;
  /** The safety status (`SafetyStatus`), since when, until when (holds), why, and what to do about it. */
  state: string;
  state_since: number;
  state_until: number | null;
  state_reason: string | null;
  remediation: string | null;
  /** JSON array of the epoch ms at which recent 429/503 storms began. */
  throttle_storms: string;
  started_at: number | null;
  paused_at: number | null;
  /** Warm-up day on the ramp (0 before the first day) and the ramp's starting volume (§A). */
  ramp_day: number;
  ramp_from: number;
  /** Today's plan (the mailbox's local date), its target and what held it below the ramp (JSON array). */
  plan_date: string | null;
  plan_target: number;
  plan_limited_by: string;
  /** IANA zone from mailboxSettings; `time_zone_source`: `mailbox`, `override`, or `fallback:<what Microsoft said>`. */
  time_zone: string | null;
  time_zone_source: string | null;
  inbox_delta_link: string | null;
  junk_delta_link: string | null;
  warmup_folder_id: string | null;
  /** The health score last reported (0–100), null while too little is observed. */
  health: number | null;
  /** When the mailbox has work next (indexed); the engine claims due rows under `lease_*`. */
  next_run_at: number | null;
  lease_owner: string | null;
  lease_until: number | null;
  created_at: number;
  updated_at: number;
}

/** `planned` → `queued` → `sent` | `failed` | `bounced`; `planned` → `canceled`. */
export type WarmupMessageStatus = 'planned' | 'queued' | 'sent' | 'failed' | 'bounced' | 'canceled';

export interface WarmupMessagesTable {
  /** `wum_…`: sorts by creation time. */
  id: string;
  organization_id: string;
  sender_account_id: string;
  recipient_account_id: string;
  thread_id: string;
  /** 0 opens the thread; 1… are replies. */
  turn: number;
  planned_turns: number;
  subject: string;
  status: WarmupMessageStatus;
  /** The sender's local date this message belongs to. */
  local_date: string;
  planned_at: number;
  outbox_message_id: string | null;
  /** Recorded when the message is handed to the outbox; how the recipient finds it (§D). */
  internet_message_id: string | null;
  sent_at: number | null;
  /** When the sender's copy was removed from its Sent Items (warm-up leaves no clutter there). */
  sent_copy_removed_at: number | null;
  in_reply_to_id: string | null;
  observed_at: number | null;
  /** `inbox` | `junkemail`: where the recipient first found it, before touching it. */
  landed_in: string | null;
  received_at: number | null;
  graph_message_id: string | null;
  rescued_at: number | null;
  read_at: number | null;
  flagged_at: number | null;
  important_at: number | null;
  replied_at: number | null;
  filed_at: number | null;
  purged_at: number | null;
  bounced_at: number | null;
  bounce_status: string | null;
  /** JSON array of the recipient's remaining actions (`ReceiveAction`), and when the next falls due. */
  pending_actions: string | null;
  actions_due_at: number | null;
  created_at: number;
  updated_at: number;
}
