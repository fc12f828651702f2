import type { EmulatorContext } from '../context.js';
import type { Mailbox, MailChange, MailChangeLog, MailMessage } from '../state/model.js';

/**
 * Each mailbox's change log: what delta queries (`…/messages/delta`, delta-routes.ts) read. Every change to a
 * message (created in or moved into a folder, updated, moved out of or deleted from a folder) takes the mailbox's
 * next sequence number and appends one entry, so a delta round costs the changes since its token, never the
 * folder's size. The log lives in the world (so snapshots keep it); the oldest entries are dropped past
 * `settings.delta.changeLogLimit`, and tokens older than what is kept answer 410 SyncStateNotFound, as Exchange
 * does when a sync state is gone [OBS] (docs/graph.md §3.4).
 */

export function changeLogOf(mailbox: Mailbox): MailChangeLog {
  if (!mailbox.changeLog) mailbox.changeLog = { lastSeq: 0, floor: 0, entries: [] };
  return mailbox.changeLog;
}

function limitOf(ctx: EmulatorContext): number {
  return ctx.settings.delta.changeLogLimit;
}

function append(ctx: EmulatorContext, mailbox: Mailbox, change: Omit<MailChange, 'seq'>): number {
  const log = changeLogOf(mailbox);
  log.lastSeq += 1;
  log.entries.push({ seq: log.lastSeq, ...change });
  const limit = limitOf(ctx);
  // Trim in batches (a quarter of the limit at a time) so that appending stays O(1) amortised.
  if (log.entries.length > limit + Math.max(1, Math.floor(limit / 4))) {
    const dropped = log.entries.splice(0, log.entries.length - limit);
    log.floor = dropped[dropped.length - 1]!.seq;
  }
  return log.lastSeq;
}

/** A message appeared in its folder (created, delivered, or moved in). */
export function logCreated(ctx: EmulatorContext, mailbox: Mailbox, message: MailMessage): void {
  message.changeSeq = append(ctx, mailbox, {
    folderId: message.parentFolderId,
    id: message.id,
    immutableId: message.immutableId,
    kind: 'created',
  });
}

/** A message changed where it is (read state, flag, importance, a draft's content…). */
export function logUpdated(ctx: EmulatorContext, mailbox: Mailbox, message: MailMessage): void {
  message.changeSeq = append(ctx, mailbox, {
    folderId: message.parentFolderId,
    id: message.id,
    immutableId: message.immutableId,
    kind: 'updated',
  });
}

/** A message left a folder (moved out or deleted), under the id it had there. */
export function logRemoved(
  ctx: EmulatorContext,
  mailbox: Mailbox,
  removed: { folderId: string; id: string; immutableId: string },
): void {
  append(ctx, mailbox, { ...removed, kind: 'removed' });
}

/** Index of the first entry with a sequence number above `seq` (entries are in sequence order). */
export function firstEntryAfter(log: MailChangeLog, seq: number): number {
  let low = 0;
  let high = log.entries.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (log.entries[mid]!.seq <= seq) low = mid + 1;
    else high = mid;
  }
  return low;
}
