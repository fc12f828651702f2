import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/**
 * Drops the bytes of a message's attachments once the message is final (sent, failed, outcome unknown, canceled):
 * nothing will send them again, and an outbox should not become an archive of everyone's files. Names, types and
 * sizes stay for the message's view.
 */
export async function dropAttachmentContent(trx: Kysely<Database>, messageId: string): Promise<void> {
  await trx
    .updateTable('outbox_attachments')
    .set({ content_base64: '' })
    .where('message_id', '=', messageId)
    .where('content_base64', '!=', '')
    .execute();
}
