import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { MicrosoftConnection } from '../../services.js';

/**
 * The emulator's outside sink as the dashboard shows it: mail that left the emulated world (recipients outside its
 * domains, such as `candidate@example.org`), which the emulator keeps instead of delivering (emulator/README.md,
 * "outside sink"). Read over HTTP from its control API (`GET /_emulator/outside`) through the same routed transport
 * as Graph, only when the service runs on the emulator; and only the organisation's own mail: a copy is shown when
 * its Message-ID is one of the organisation's messages (mailbridge gives every message its own, `<mb.{id}@host>`,
 * on both providers: src/outbox/message-store.ts).
 */
export interface OutsideMail {
  /** The organisation's message it is a copy of. */
  messageId: string;
  at: string;
  from: string;
  /** The recipients this copy left the emulated world for. */
  to: string[];
  subject: string;
  /** The start of the text (or HTML source), for recognising it. */
  preview: string;
}

/** The newest copies looked at; the demo's sink is small, and the page is a window on the latest. */
const LATEST = 100;
const PREVIEW_LENGTH = 200;

interface SinkMessage {
  at: string;
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  envelopeTo?: string[];
  subject: string;
  body: { content: string };
  internetMessageId: string;
}

/** Whether this service runs on the emulator (the only case the sink exists). */
export function hasOutsideSink(microsoft: Pick<MicrosoftConnection, 'mode'>): boolean {
  return microsoft.mode === 'emulator';
}

/** The organisation's mail in the outside sink, newest first. Throws when the emulator does not answer. */
export async function listOutsideMail(
  db: Kysely<Database>,
  microsoft: Pick<MicrosoftConnection, 'fetch' | 'routes'>,
  organizationId: string,
): Promise<OutsideMail[]> {
  const response = await microsoft.fetch(`${microsoft.routes.graph}/_emulator/outside`, {
    signal: AbortSignal.timeout(5_000),
  });
  if (!response.ok) throw new Error(`the emulator's outside sink answered HTTP ${response.status}`);
  const { messages } = (await response.json()) as { messages: SinkMessage[] };
  const latest = messages.slice(-LATEST).reverse();
  if (latest.length === 0) return [];
  const ours = await db
    .selectFrom('outbox_messages')
    .select(['id', 'internet_message_id'])
    .where('organization_id', '=', organizationId)
    .where('internet_message_id', 'in', [...new Set(latest.map((message) => message.internetMessageId))])
    .execute();
  const idOf = new Map(ours.map((row) => [row.internet_message_id, row.id]));
  return latest.flatMap((message) => {
    const messageId = idOf.get(message.internetMessageId);
    if (!messageId) return [];
    return [
      {
        messageId,
        at: message.at,
        from: message.from,
        to: message.envelopeTo ?? [...message.to, ...message.cc, ...message.bcc],
        subject: message.subject,
        preview: message.body.content.slice(0, PREVIEW_LENGTH),
      },
    ];
  });
}
