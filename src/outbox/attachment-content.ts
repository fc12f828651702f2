import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { OutboxMessagesTable } from '../db/tables/outbox.js';

/**
 * Drops the bytes of a message's attachments once the message is final (sent, failed, outcome unknown, canceled):
 * nothing will send them again, and an outbox should not become an archive of everyone's files. Names, types and
 * sizes stay for the message's view.
 */
export async function dropAttachmentContent(
  trx: Kysely<Database>,
  message: Pick<OutboxMessagesTable, 'id' | 'attachment_count'>,
): Promise<void> {
  if (message.attachment_count === 0) return;
  await trx
    .updateTable('outbox_attachments')
    .set({ content_base64: '' })
    .where('message_id', '=', message.id)
    .where('content_base64', '!=', '')
    .execute();
}
