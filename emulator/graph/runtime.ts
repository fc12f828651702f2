import type { EmulatorContext, MailboxUsage } from '../context.js';
import type { Mailbox, Tenant, User } from '../state/model.js';

/** An attachment upload in progress (microsoft.md §3.1 createUploadSession). Bytes stay in memory only. */
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
  /** Arrival counter for `MailMessage.sequence`. */
  sequence: number;
}

export function graphRuntime(ctx: EmulatorContext): GraphRuntime {
  if (!ctx.graph) {
    ctx.graph = {
      uploadSessions: new Map(),
      addressBook: {
        users: null,
        userCount: -1,
        byEmail: new Map(),
        tenants: null,
        tenantCount: -1,
        byDomain: new Map(),
      },
      immutableIndex: new WeakMap(),
      sendWindows: new WeakMap(),
      usagesByUser: new Map(),
      sequence: 0,
    };
  }
  return ctx.graph;
}

function refreshUsers(book: AddressBook, users: Record<string, User>): void {
  book.byEmail.clear();
  let count = 0;
  for (const user of Object.values(users)) {
    book.byEmail.set(user.email.toLowerCase(), user.id);
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
 * The emulated user with this address. A hit is verified against the world (O(1)); only a miss re-counts the
 * users to notice additions, so mail to outside addresses costs one key count, never a scan of every user.
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
  }
  if (Object.keys(users).length !== book.userCount || id !== undefined) {
    refreshUsers(book, users);
    const again = book.byEmail.get(wanted);
    return again === undefined ? undefined : users[again];
  }
  return undefined;
}

/** The tenant owning a verified domain (organisations, and outlook.com/hotmail.com/live.com for consumers). */
export function findTenantForDomain(ctx: EmulatorContext, domain: string): Tenant | undefined {
  const book = graphRuntime(ctx).addressBook;
  const tenants = ctx.world.tenants;
  if (book.tenants !== tenants || Object.keys(tenants).length !== book.tenantCount) refreshTenants(book, tenants);
  const id = book.byDomain.get(domain.trim().toLowerCase());
  const tenant = id === undefined ? undefined : tenants[id];
  if (tenant && !tenant.domains.includes(domain.trim().toLowerCase())) {
    refreshTenants(book, tenants);
    return findTenantForDomain(ctx, domain);
  }
  return tenant;
}

export function nextSequence(ctx: EmulatorContext): number {
  const runtime = graphRuntime(ctx);
  runtime.sequence += 1;
  return runtime.sequence;
}
