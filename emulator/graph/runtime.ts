import type { EmulatorContext, MailboxUsage } from '../context.js';
import type { Mailbox, MailMessage, Tenant, User } from '../state/model.js';

/** An attachment upload in progress (docs/graph.md §3.1 createUploadSession). Bytes stay in memory only. */
export interface UploadSession {
  id: string;
  /** Digest of the opaque `authtoken` carried by the upload URL. */
  tokenHash: string;
  userId: string;
  /** Immutable id of the message the attachment is for (survives moves of the draft). */
  messageImmutableId: string;
  name: string;
  contentType: string;
  size: number;
  isInline: boolean;
  contentId: string | null;
  chunks: Buffer[];
  received: number;
  expiresAt: number;
}

/** Email → user and domain → tenant lookups, rebuilt when the world's users or tenants change. */
export interface AddressBook {
  users: Record<string, User> | null;
  userCount: number;
  byEmail: Map<string, string>;
  /** Domains of the users' addresses, so mail for other domains needs no recount of the users. */
  userDomains: Set<string>;
  tenants: Record<string, Tenant> | null;
  tenantCount: number;
  byDomain: Map<string, string>;
}

/** Running totals over a usage record's `recentSends`, so that limit checks stay O(1) amortised. */
export interface SendWindow {
  sends: MailboxUsage['recentSends'];
  /** Index of the first send still inside 24 hours. */
  head: number;
  /** Recipients of the sends from `head` on. */
  recipients: number;
}

/**
 * Graph's in-memory helpers. Everything here can be rebuilt from the world (indexes) or is deliberately
 * transient (upload sessions), so it is never part of a snapshot.
 */
export interface GraphRuntime {
  uploadSessions: Map<string, UploadSession>;
  addressBook: AddressBook;
  /** Per mailbox: immutable id → current id. */
  immutableIndex: WeakMap<Mailbox, Map<string, string>>;
  sendWindows: WeakMap<MailboxUsage, SendWindow>;
  /** Usage records per user id, to apply sending limits across every app of one mailbox. */
  usagesByUser: Map<string, Array<{ key: string; usage: MailboxUsage }>>;
  indexedUsages: WeakSet<MailboxUsage>;
  /** Whether usage records already in `ctx.usage` when this runtime was made have been indexed. */
  usagesScanned: boolean;
  /** Arrival counter for `MailMessage.sequence`. */
  sequence: number;
  /** The mailbox each message lives in (touchMessage logs changes to it). */
  messageOwners: WeakMap<MailMessage, Mailbox>;
}

export function graphRuntime(ctx: EmulatorContext): GraphRuntime {
  if (!ctx.graph) {
    ctx.graph = {
      uploadSessions: new Map(),
      addressBook: {
        users: null,
        userCount: -1,
        byEmail: new Map(),
        userDomains: new Set(),
        tenants: null,
        tenantCount: -1,
        byDomain: new Map(),
      },
      immutableIndex: new WeakMap(),
      sendWindows: new WeakMap(),
      usagesByUser: new Map(),
      indexedUsages: new WeakSet(),
      usagesScanned: false,
      sequence: 0,
      messageOwners: new WeakMap(),
    };
  }
  return ctx.graph;
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

function refreshUsers(book: AddressBook, users: Record<string, User>): void {
  book.byEmail.clear();
  book.userDomains.clear();
  let count = 0;
  for (const user of Object.values(users)) {
    const email = user.email.toLowerCase();
    book.byEmail.set(email, user.id);
    book.userDomains.add(domainOf(email));
    count++;
  }
  book.users = users;
  book.userCount = count;
}

function refreshTenants(book: AddressBook, tenants: Record<string, Tenant>): void {
  book.byDomain.clear();
  let count = 0;
  for (const tenant of Object.values(tenants)) {
    for (const domain of tenant.domains) book.byDomain.set(domain.toLowerCase(), tenant.id);
    count++;
  }
  book.tenants = tenants;
  book.tenantCount = count;
}

/**
 * The emulated user with this address, in O(1): a hit is verified against the world; a miss in a domain that has
 * users or belongs to a tenant re-counts the users (to notice users added since the index was built). Mail for
 * any other domain costs nothing more; a user added later in a domain that no tenant and no earlier user has is
 * found once any lookup in an emulated domain has refreshed the index, or after the world's users are replaced.
 */
export function findUserByAddress(ctx: EmulatorContext, address: string): User | undefined {
  const book = graphRuntime(ctx).addressBook;
  const wanted = address.trim().toLowerCase();
  const users = ctx.world.users;
  if (book.users !== users) refreshUsers(book, users);
  const id = book.byEmail.get(wanted);
  if (id !== undefined) {
    const user = users[id];
    if (user && user.email === wanted) return user;
    refreshUsers(book, users);
  } else {
    const domain = domainOf(wanted);
    if (!book.userDomains.has(domain) && findTenantForDomain(ctx, domain) === undefined) return undefined;
    if (Object.keys(users).length === book.userCount) return undefined;
    refreshUsers(book, users);
  }
  const again = book.byEmail.get(wanted);
  return again === undefined ? undefined : users[again];
}

/**
 * The tenant owning a verified domain (organisations, and outlook.com/hotmail.com/live.com for consumers). Tenants
 * are few; a miss re-counts them to notice new ones.
 */
export function findTenantForDomain(ctx: EmulatorContext, domain: string): Tenant | undefined {
  const book = graphRuntime(ctx).addressBook;
  const tenants = ctx.world.tenants;
  const wanted = domain.trim().toLowerCase();
  if (book.tenants !== tenants) refreshTenants(book, tenants);
  let id = book.byDomain.get(wanted);
  let tenant = id === undefined ? undefined : tenants[id];
  if (tenant?.domains.includes(wanted)) return tenant;
  if (tenant !== undefined || Object.keys(tenants).length !== book.tenantCount) {
    refreshTenants(book, tenants);
    id = book.byDomain.get(wanted);
    tenant = id === undefined ? undefined : tenants[id];
  }
  return tenant;
}

export function nextSequence(ctx: EmulatorContext): number {
  const runtime = graphRuntime(ctx);
  runtime.sequence += 1;
  return runtime.sequence;
}
