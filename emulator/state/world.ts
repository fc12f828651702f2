import { createHash } from 'node:crypto';
import { CONSUMER_TENANT_ID, type Mailbox, type MailFolder, type Tenant, type User, type WorldState } from './model.js';

/** Tokens and codes are kept only as digests, so a snapshot file holds nothing a client could replay. */
export function digest(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

export function findUserByEmail(world: WorldState, email: string): User | undefined {
  const wanted = email.trim().toLowerCase();
  return Object.values(world.users).find((user) => user.email === wanted);
}

export function findUserOrThrow(world: WorldState, userId: string): User {
  const user = world.users[userId];
  if (!user) throw new Error(`emulator: no user ${userId}`);
  return user;
}

/** The tenant a domain belongs to (a verified domain of an organisation), if any. */
export function findTenantByDomain(world: WorldState, domain: string): Tenant | undefined {
  const wanted = domain.toLowerCase();
  return Object.values(world.tenants).find((tenant) => tenant.domains.includes(wanted));
}

export type TenantSegment =
  | { kind: 'common' }
  | { kind: 'organizations' }
  | { kind: 'consumers' }
  | { kind: 'tenant'; tenant: Tenant };

/**
 * Resolves the `{tenant}` path segment of an identity URL: `common`, `organizations`, `consumers`, a tenant
 * GUID (the consumer GUID counts as `consumers`) or a verified domain. Undefined when nothing matches.
 */
export function resolveTenantSegment(world: WorldState, segment: string): TenantSegment | undefined {
  const value = segment.toLowerCase();
  if (value === 'common') return { kind: 'common' };
  if (value === 'organizations') return { kind: 'organizations' };
  if (value === 'consumers' || value === CONSUMER_TENANT_ID) return { kind: 'consumers' };
  const tenant = world.tenants[value] ?? findTenantByDomain(world, value);
  return tenant ? { kind: 'tenant', tenant } : undefined;
}

/** The well-known folders every mailbox starts with, in Outlook's display names. */
export const WELL_KNOWN_FOLDERS: ReadonlyArray<{ wellKnownName: string; displayName: string }> = [
  { wellKnownName: 'msgfolderroot', displayName: 'Top of Information Store' },
  { wellKnownName: 'inbox', displayName: 'Inbox' },
  { wellKnownName: 'drafts', displayName: 'Drafts' },
  { wellKnownName: 'sentitems', displayName: 'Sent Items' },
  { wellKnownName: 'deleteditems', displayName: 'Deleted Items' },
  { wellKnownName: 'junkemail', displayName: 'Junk Email' },
  { wellKnownName: 'outbox', displayName: 'Outbox' },
  { wellKnownName: 'archive', displayName: 'Archive' },
  { wellKnownName: 'conversationhistory', displayName: 'Conversation History' },
  { wellKnownName: 'clutter', displayName: 'Clutter' },
  { wellKnownName: 'scheduled', displayName: 'Scheduled' },
  { wellKnownName: 'searchfolders', displayName: 'Search Folders' },
  { wellKnownName: 'recoverableitemsdeletions', displayName: 'Recoverable Items Deletions' },
];

/** Creates the mailbox of a new user with its well-known folders. `newId` invents folder ids. */
export function createMailbox(userId: string, newId: () => string): Mailbox {
  const folders: Record<string, MailFolder> = {};
  const rootId = newId();
  for (const { wellKnownName, displayName } of WELL_KNOWN_FOLDERS) {
    const id = wellKnownName === 'msgfolderroot' ? rootId : newId();
    folders[id] = { id, displayName, wellKnownName, parentFolderId: wellKnownName === 'msgfolderroot' ? null : rootId };
  }
  return {
    userId,
    folders,
    messages: {},
    rules: [],
    settings: {
      timeZone: 'UTC',
      language: { locale: 'en-US', displayName: 'English (United States)' },
      dateFormat: 'M/d/yyyy',
      timeFormat: 'h:mm tt',
      // As the documented GET answer has it (docs/graph.md §3.7): both reply messages empty.
      automaticRepliesSetting: {
        status: 'disabled',
        externalAudience: 'all',
        internalReplyMessage: '',
        externalReplyMessage: '',
      },
      workingHours: {
        daysOfWeek: ['monday', 'tuesday', 'wednesday', 'thursday', 'friday'],
        startTime: '08:00:00.0000000',
        endTime: '17:00:00.0000000',
        timeZone: { name: 'UTC' },
      },
    },
    reputation: 0.5,
  };
}

/** The folder with that id or well-known name, if the mailbox has it. */
export function findFolder(mailbox: Mailbox, idOrWellKnownName: string): MailFolder | undefined {
  const byId = mailbox.folders[idOrWellKnownName];
  if (byId) return byId;
  const wanted = idOrWellKnownName.toLowerCase();
  return Object.values(mailbox.folders).find((folder) => folder.wellKnownName === wanted);
}
