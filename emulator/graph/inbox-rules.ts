import type { EmulatorContext } from '../context.js';
import type { Mailbox, MailMessage, MessageRule, Recipient } from '../state/model.js';
import { findFolder } from '../state/world.js';
import { GraphError, invalidValue, unknownProperty } from './graph-error.js';
import { createMessage, moveMessage, removeMessage, touchMessage } from './mail-store.js';
import { isPlainObject, propertyOf } from './message-input.js';

/**
 * Inbox rules (`messageRules`, docs/graph.md §3.1): validation of the JSON Graph accepts, and their application to
 * mail delivered to the Inbox, in `sequence` order (mail the junk filter caught is not processed, docs/graph.md §3.6).
 *
 * Evaluated predicates: subjectContains, bodyContains, bodyOrSubjectContains, senderContains, fromAddresses,
 * headerContains, recipientContains, sentToAddresses, sentToMe, sentOnlyToMe, sentCcMe, sentToOrCcMe, notSentToMe,
 * importance, hasAttachments, categories, isNonDeliveryReport, isAutomaticReply. Other documented predicates are
 * accepted and never match. Actions: moveToFolder, copyToFolder, delete, permanentDelete, markAsRead,
 * markImportance, assignCategories, stopProcessingRules; forwardTo/redirectTo/forwardAsAttachmentTo are accepted
 * and not carried out.
 */

const PREDICATES = [
  'bodyContains',
  'bodyOrSubjectContains',
  'categories',
  'fromAddresses',
  'hasAttachments',
  'headerContains',
  'importance',
  'isApprovalRequest',
  'isAutomaticForward',
  'isAutomaticReply',
  'isEncrypted',
  'isMeetingRequest',
  'isMeetingResponse',
  'isNonDeliveryReport',
  'isPermissionControlled',
  'isReadReceipt',
  'isSigned',
  'isVoicemail',
  'messageActionFlag',
  'notSentToMe',
  'recipientContains',
  'senderContains',
  'sensitivity',
  'sentCcMe',
  'sentOnlyToMe',
  'sentToAddresses',
  'sentToMe',
  'sentToOrCcMe',
  'subjectContains',
  'withinSizeRange',
] as const;

const ACTIONS = [
  'assignCategories',
  'copyToFolder',
  'delete',
  'forwardAsAttachmentTo',
  'forwardTo',
  'markAsRead',
  'markImportance',
  'moveToFolder',
  'permanentDelete',
  'redirectTo',
  'stopProcessingRules',
] as const;

const STRING_LISTS = new Set([
  'bodyContains',
  'bodyOrSubjectContains',
  'categories',
  'headerContains',
  'recipientContains',
  'senderContains',
  'subjectContains',
  'assignCategories',
]);
const RECIPIENT_LISTS = new Set([
  'fromAddresses',
  'sentToAddresses',
  'forwardAsAttachmentTo',
  'forwardTo',
  'redirectTo',
]);
const IMPORTANCE = new Set(['importance', 'markImportance']);
const FOLDERS = new Set(['moveToFolder', 'copyToFolder']);

const PREDICATE_BY_LOWER = new Map<string, string>(PREDICATES.map((name) => [name.toLowerCase(), name]));
const ACTION_BY_LOWER = new Map<string, string>(ACTIONS.map((name) => [name.toLowerCase(), name]));

function readPart(
  mailbox: Mailbox,
  raw: unknown,
  names: Map<string, string>,
  typeName: string,
): Record<string, unknown> {
  if (raw === null || raw === undefined) return {};
  if (!isPlainObject(raw)) throw invalidValue(typeName, `microsoft.graph.${typeName}`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key.startsWith('@odata')) continue;
    const name = names.get(key.toLowerCase());
    if (!name) throw unknownProperty(key, `microsoft.graph.${typeName}`);
    if (value === null) continue;
    if (STRING_LISTS.has(name)) {
      if (!Array.isArray(value) || value.some((each) => typeof each !== 'string')) {
        throw invalidValue(name, 'Collection(Edm.String)');
      }
      out[name] = [...value];
    } else if (RECIPIENT_LISTS.has(name)) {
      if (!Array.isArray(value)) throw invalidValue(name, 'Collection(microsoft.graph.recipient)');
      out[name] = value.map((each) => {
        const email = isPlainObject(each) ? propertyOf(each, 'emailAddress') : undefined;
        const address = isPlainObject(email) ? propertyOf(email, 'address') : undefined;
        if (typeof address !== 'string') throw invalidValue(name, 'microsoft.graph.recipient');
        const display = isPlainObject(email) ? propertyOf(email, 'name') : undefined;
        return { emailAddress: typeof display === 'string' ? { name: display, address } : { address } };
      });
    } else if (IMPORTANCE.has(name)) {
      if (typeof value !== 'string' || !/^(low|normal|high)$/i.test(value)) {
        throw invalidValue(name, 'microsoft.graph.importance');
      }
      out[name] = value.toLowerCase();
    } else if (FOLDERS.has(name)) {
      if (typeof value !== 'string') throw invalidValue(name, 'Edm.String');
      const folder = findFolder(mailbox, value);
      if (!folder) {
        throw new GraphError(400, 'ErrorInvalidRequest', `The folder '${value}' specified in ${name} does not exist.`);
      }
      out[name] = folder.id;
    } else {
      out[name] = value;
    }
  }
  return out;
}

/** Reads a messageRule body: full for POST, partial for PATCH (only the given properties change). */
export function readRuleInputOrThrow(
  mailbox: Mailbox,
  raw: unknown,
  mode: 'create' | 'update',
): Partial<Omit<MessageRule, 'id' | 'hasError' | 'isReadOnly'>> {
  if (!isPlainObject(raw)) throw invalidValue('messageRule', 'microsoft.graph.messageRule');
  const out: Partial<Omit<MessageRule, 'id' | 'hasError' | 'isReadOnly'>> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key.startsWith('@odata')) continue;
    switch (key.toLowerCase()) {
      case 'displayname':
        if (typeof value !== 'string') throw invalidValue('displayName', 'Edm.String');
        out.displayName = value;
        break;
      case 'sequence':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
          throw invalidValue('sequence', 'Edm.Int32');
        }
        out.sequence = value;
        break;
      case 'isenabled':
        if (typeof value !== 'boolean') throw invalidValue('isEnabled', 'Edm.Boolean');
        out.isEnabled = value;
        break;
      case 'conditions':
        out.conditions = readPart(mailbox, value, PREDICATE_BY_LOWER, 'messageRulePredicates');
        break;
      case 'exceptions':
        out.exceptions = readPart(mailbox, value, PREDICATE_BY_LOWER, 'messageRulePredicates');
        break;
      case 'actions':
        out.actions = readPart(mailbox, value, ACTION_BY_LOWER, 'messageRuleActions');
        break;
      case 'id':
      case 'haserror':
      case 'isreadonly':
        break;
      default:
        throw unknownProperty(key, 'microsoft.graph.messageRule');
    }
  }
  if (mode === 'create') {
    // Exchange needs a name and a position for every rule [GUESS: code and wording].
    if (!out.displayName) throw new GraphError(400, 'ErrorInvalidArgument', 'The rule must have a displayName.');
    if (out.sequence === undefined) throw new GraphError(400, 'ErrorInvalidArgument', 'The rule must have a sequence.');
  }
  return out;
}

function includesAny(haystack: string, needles: unknown): boolean {
  if (!Array.isArray(needles)) return false;
  const text = haystack.toLowerCase();
  return needles.some((needle) => typeof needle === 'string' && text.includes(needle.toLowerCase()));
}

function addresses(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return (list as Recipient[]).map((each) => each.emailAddress.address.toLowerCase());
}

function bodyText(message: MailMessage): string {
  return message.body.content;
}

/** Whether one predicate set matches (all given predicates must match; empty matches everything). */
function predicatesMatch(predicates: Record<string, unknown>, message: MailMessage, owner: string): boolean {
  const to = message.toRecipients.map((each) => each.emailAddress.address.toLowerCase());
  const cc = message.ccRecipients.map((each) => each.emailAddress.address.toLowerCase());
  const me = owner.toLowerCase();
  const fromAddress = message.from?.emailAddress.address ?? '';
  const fromName = message.from?.emailAddress.name ?? '';
  for (const [name, value] of Object.entries(predicates)) {
    let ok: boolean;
    switch (name) {
      case 'subjectContains':
        ok = includesAny(message.subject, value);
        break;
      case 'bodyContains':
        ok = includesAny(bodyText(message), value);
        break;
      case 'bodyOrSubjectContains':
        ok = includesAny(message.subject, value) || includesAny(bodyText(message), value);
        break;
      case 'senderContains':
        ok = includesAny(`${fromName} ${fromAddress}`, value);
        break;
      case 'fromAddresses':
        ok = addresses(value).includes(fromAddress.toLowerCase());
        break;
      case 'headerContains':
        ok = includesAny(
          message.internetMessageHeaders.map((header) => `${header.name}: ${header.value}`).join('\r\n'),
          value,
        );
        break;
      case 'recipientContains':
        ok = includesAny(
          [...message.toRecipients, ...message.ccRecipients]
            .map((each) => `${each.emailAddress.name ?? ''} ${each.emailAddress.address}`)
            .join('\n'),
          value,
        );
        break;
      case 'sentToAddresses': {
        const wanted = addresses(value);
        ok = [...to, ...cc].some((address) => wanted.includes(address));
        break;
      }
      case 'sentToMe':
        ok = (value === true) === to.includes(me);
        break;
      case 'sentOnlyToMe':
        ok = (value === true) === (to.length === 1 && to[0] === me && cc.length === 0);
        break;
      case 'sentCcMe':
        ok = (value === true) === cc.includes(me);
        break;
      case 'sentToOrCcMe':
        ok = (value === true) === (to.includes(me) || cc.includes(me));
        break;
      case 'notSentToMe':
        ok = (value === true) === !to.includes(me);
        break;
      case 'importance':
        ok = message.importance === value;
        break;
      case 'hasAttachments':
        ok = (value === true) === message.attachments.some((attachment) => !attachment.isInline);
        break;
      case 'categories':
        ok = Array.isArray(value) && value.some((category) => message.categories.includes(category as string));
        break;
      case 'isNonDeliveryReport':
        ok =
          (value === true) ===
          message.internetMessageHeaders.some((header) => header.name.toLowerCase() === 'x-ms-exchange-message-is-ndr');
        break;
      case 'isAutomaticReply':
        ok = value !== true;
        break;
      default:
        ok = false;
    }
    if (!ok) return false;
  }
  return true;
}

export type RuleOutcome = 'inbox' | 'folder' | 'deleted';

/**
 * Runs the enabled rules of the mailbox over a message just delivered to its Inbox, in `sequence` order.
 * Returns where the message ended up.
 */
export function applyInboxRules(
  ctx: EmulatorContext,
  mailbox: Mailbox,
  message: MailMessage,
  owner: string,
): RuleOutcome {
  if (mailbox.rules.length === 0) return 'inbox';
  const rules = mailbox.rules.filter((rule) => rule.isEnabled).sort((a, b) => a.sequence - b.sequence);
  let outcome: RuleOutcome = 'inbox';
  let target: string | null = null;
  for (const rule of rules) {
    if (!predicatesMatch(rule.conditions, message, owner)) continue;
    if (Object.keys(rule.exceptions).length > 0 && predicatesMatch(rule.exceptions, message, owner)) continue;
    const actions = rule.actions;
    if (actions.markAsRead === true) message.isRead = true;
    if (typeof actions.markImportance === 'string')
      message.importance = actions.markImportance as MailMessage['importance'];
    if (Array.isArray(actions.assignCategories)) {
      for (const category of actions.assignCategories as string[]) {
        if (!message.categories.includes(category)) message.categories.push(category);
      }
    }
    if (typeof actions.copyToFolder === 'string') {
      const folder = mailbox.folders[actions.copyToFolder];
      if (folder) {
        createMessage(ctx, mailbox, {
          ...message,
          folder,
          flag: { ...message.flag },
          categories: [...message.categories],
          attachments: message.attachments.map((each) => ({ ...each })),
        });
      }
    }
    if (actions.permanentDelete === true) {
      removeMessage(ctx, mailbox, message);
      return 'deleted';
    }
    if (actions.delete === true) target = findFolder(mailbox, 'deleteditems')?.id ?? target;
    if (typeof actions.moveToFolder === 'string') target = actions.moveToFolder;
    if (actions.stopProcessingRules === true) break;
  }
  touchMessage(ctx, message);
  if (target !== null) {
    const folder = mailbox.folders[target];
    if (folder && folder.id !== message.parentFolderId) {
      moveMessage(ctx, mailbox, message, folder);
      outcome = folder.wellKnownName === 'deleteditems' ? 'deleted' : 'folder';
    }
  }
  return outcome;
}
