import type { WarmupMessagesTable } from '../db/tables/warmup.js';

/**
 * The columns of a warm-up message that nothing has happened to yet: not handed to the outbox, not sent, not seen by
 * its recipient, no step taken. A new thread's first turn and a reply start from it with their own identity.
 */
export function blankWarmupMessage(): Omit<
  WarmupMessagesTable,
  | 'id'
  | 'organization_id'
  | 'sender_account_id'
  | 'recipient_account_id'
  | 'thread_id'
  | 'turn'
  | 'planned_turns'
  | 'subject'
  | 'status'
  | 'local_date'
  | 'planned_at'
  | 'in_reply_to_id'
  | 'created_at'
  | 'updated_at'
> {
  return {
    outbox_message_id: null,
    internet_message_id: null,
    sent_at: null,
    sent_copy_removed_at: null,
    observed_at: null,
    landed_in: null,
    received_at: null,
    graph_message_id: null,
    rescued_at: null,
    read_at: null,
    flagged_at: null,
    important_at: null,
    replied_at: null,
    filed_at: null,
    purged_at: null,
    bounced_at: null,
    bounce_status: null,
    pending_actions: null,
    actions_due_at: null,
  };
}
