import type { MailMessage } from '../state/model.js';
import { MESSAGE_PROPERTIES } from './message-view.js';
import { type ODataSchema, unknownQueryProperty } from './odata.js';

const TYPE_NAME = 'microsoft.graph.message';

const PROPERTIES = new Map<string, string>(MESSAGE_PROPERTIES.map((name) => [name.toLowerCase(), name]));

/** Nested paths Graph resolves on messages (complex properties), by top-level property. */
const NESTED: Record<string, string[][]> = {
  from: [
    ['emailAddress', 'address'],
    ['emailAddress', 'name'],
  ],
  sender: [
    ['emailAddress', 'address'],
    ['emailAddress', 'name'],
  ],
  body: [['content'], ['contentType']],
  uniqueBody: [['content'], ['contentType']],
  flag: [['flagStatus']],
};

const DATES = new Set(['createdDateTime', 'lastModifiedDateTime', 'receivedDateTime', 'sentDateTime']);

function canonicalPath(path: string[]): string[] {
  const [head, ...rest] = path;
  const top = head === undefined ? undefined : PROPERTIES.get(head.toLowerCase());
  if (!top) throw unknownQueryProperty(head ?? '', TYPE_NAME);
  if (rest.length === 0) return [top];
  const options = NESTED[top] ?? [];
  const match = options.find(
    (option) =>
      option.length === rest.length && option.every((segment, i) => segment.toLowerCase() === rest[i]!.toLowerCase()),
  );
  if (!match) throw unknownQueryProperty(rest[rest.length - 1]!, TYPE_NAME);
  return [top, ...match];
}

function valueAt(message: MailMessage, path: string[]): unknown {
  const [top, ...rest] = path;
  if (top === undefined) return undefined;
  if (DATES.has(top)) {
    const iso = message[top as 'receivedDateTime'];
    return iso === null ? null : Date.parse(iso);
  }
  switch (top) {
    case 'hasAttachments':
      return message.attachments.some((attachment) => !attachment.isInline);
    case 'from':
    case 'sender': {
      const who = message[top];
      if (rest.length === 0) return who;
      if (!who) return null;
      return rest[1] === 'address' ? who.emailAddress.address : (who.emailAddress.name ?? who.emailAddress.address);
    }
    case 'body':
    case 'uniqueBody':
      return rest[0] === 'contentType' ? message.body.contentType : message.body.content;
    case 'flag':
      return message.flag.flagStatus;
    case 'isDeliveryReceiptRequested':
    case 'isReadReceiptRequested':
      return false;
    default:
      return (message as unknown as Record<string, unknown>)[top];
  }
}

/** How `$filter`, `$orderby` and `$select` see a message. */
export const messageSchema: ODataSchema<MailMessage> = {
  typeName: TYPE_NAME,
  properties: PROPERTIES,
  canonicalPath,
  valueAt,
};

/** Outlook's natural order for message lists: newest first. */
export function newestFirst(a: MailMessage, b: MailMessage): number {
  if (a.receivedDateTime !== b.receivedDateTime) return a.receivedDateTime < b.receivedDateTime ? 1 : -1;
  return (b.sequence ?? 0) - (a.sequence ?? 0);
}
