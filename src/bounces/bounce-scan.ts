import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AccountsTable } from '../db/tables/accounts.js';
import type { GraphClient } from '../graph/graph-client.js';
import type { GraphMessage } from '../graph/graph-types.js';
import { canUseDrafts } from '../outbox/message-target.js';
import type { ServiceDeps } from '../services.js';
import type { AccessTokenProvider } from '../tokens/access-token-provider.js';
import { looksLikeNonDeliveryReport, parseNonDeliveryReport } from './non-delivery-report.js';
import { recordBounce } from './record-bounce.js';

/**
 * The non-delivery-report reader (issue 9 item 3). Reports arrive as ordinary Inbox mail (docs/graph.md §3.1), so for
 * accounts that can read mail (Mail.ReadWrite, the `warmup` profile) the Inbox is looked at for a while after each
 * Graph send. Send-only accounts cannot read their reports: their messages stay `sent`.
 *
 * Cost is what arrived, not the mailbox's size: each look asks Graph only for Inbox mail received since the last
 * look (`$filter=receivedDateTime ge {watermark}`, `$orderby` on the same property as Graph requires, the listing's
 * fields only); only candidates (subject `Undeliverable:` from the mailbox's own domain's NDR sender) are fetched
 * with their body. Accounts are claimed from the indexed `bounce_scans.next_scan_at`, so an idle fleet costs one
 * index probe. Nothing in the mailbox is ever modified: the reader only reads.
 */

export interface BounceScanOptions {
  /** Accounts per run. Default 20. */
  batchSize?: number;
  graph?: GraphClient;
}

/** The first look after a send: Exchange writes NDRs for its own refusals (5.1.8, 5.1.90, 5.1.10) at once. */
export const FIRST_LOOK_DELAY_MS = 60_000;
/** Later looks while the account is active (remote servers may bounce hours later). */
export const LOOK_INTERVAL_MS = 10 * 60_000;
/** Looks continue this long after the last send ([GUESS]: remote NDRs rarely take longer than a couple of days). */
export const ACTIVE_AFTER_SEND_MS = 3 * 86_400_000;
/** A claimed look that never finished (its process died) is taken again after this. */
const LEASE_MS = 5 * 60_000;
/** Messages per page, and pages per look; a longer backlog continues at the next run. */
const PAGE_SIZE = 50;
const MAX_PAGES = 10;
/** A report could carry a Date slightly before our send if clocks differ: the first watermark starts a bit earlier. */
const CLOCK_SLACK_MS = 5 * 60_000;

const LISTING_FIELDS = ['id', 'subject', 'from', 'receivedDateTime'];

/** Whether a send from `account` schedules a scan: only an account that can read mail (Mail.ReadWrite) is read. */
export function scansBouncesOf(account: Pick<AccountsTable, 'granted_scopes'>): boolean {
  return canUseDrafts(account);
}

/**
 * After a Graph send from `account` (in the send's transaction): make sure its Inbox will be read for reports soon,
 * and for a while. No-op for accounts that cannot read mail.
 */
export async function scheduleBounceScan(
  trx: Kysely<Database>,
  now: number,
  account: Pick<AccountsTable, 'id' | 'granted_scopes'>,
): Promise<void> {
  if (!scansBouncesOf(account)) return;
  const firstLook = now + FIRST_LOOK_DELAY_MS;
  await trx
    .insertInto('bounce_scans')
    .values({
      account_id: account.id,
      watermark: now - CLOCK_SLACK_MS,
      next_scan_at: firstLook,
      active_until: now + ACTIVE_AFTER_SEND_MS,
      updated_at: now,
    })
    .onConflict((conflict) =>
      conflict.column('account_id').doUpdateSet({
        next_scan_at: sql<number>`case when bounce_scans.next_scan_at is null or bounce_scans.next_scan_at > ${firstLook} then ${firstLook} else bounce_scans.next_scan_at end`,
        active_until: now + ACTIVE_AFTER_SEND_MS,
        updated_at: now,
      }),
    )
    .execute();
}

export interface BounceScanRun {
  claimed: number;
  /** Messages that became `bounced`. */
  bounced: number;
}

/** Claims due looks (moving them a lease ahead) and runs each. */
export async function runBounceScans(
  deps: ServiceDeps,
  provider: AccessTokenProvider,
  options: BounceScanOptions = {},
): Promise<BounceScanRun> {
  const graph = options.graph ?? deps.graph;
  const now = deps.clock.now();
  const claimed = await deps.db
    .updateTable('bounce_scans')
    .set({ next_scan_at: now + LEASE_MS })
    .where('account_id', 'in', (eb) => {
      const due = eb
        .selectFrom('bounce_scans')
        .select('account_id')
        .where('next_scan_at', 'is not', null)
        .where('next_scan_at', '<=', now)
        .orderBy('next_scan_at')
        .limit(options.batchSize ?? 20);
      return deps.dialect === 'postgres' ? due.forUpdate().skipLocked() : due;
    })
    .where('next_scan_at', '<=', now)
    .returning(['account_id', 'watermark', 'active_until'])
    .execute();
  const run: BounceScanRun = { claimed: claimed.length, bounced: 0 };
  for (const scan of claimed) {
    try {
      run.bounced += await scanAccount(deps, provider, graph, scan.account_id, Number(scan.watermark), {
        activeUntil: Number(scan.active_until),
      });
    } catch (error) {
      // Token and Graph failures are recorded on the account by the provider; the look is tried again later.
      deps.logger.warn({ err: error, accountId: scan.account_id }, 'bounce scan failed; trying again later');
      const later = deps.clock.now();
      // Within the active window only: an account that stays broken is not retried forever.
      const next = later < Number(scan.active_until) ? later + LOOK_INTERVAL_MS : null;
      await deps.db
        .updateTable('bounce_scans')
        .set({ next_scan_at: next, updated_at: later })
        .where('account_id', '=', scan.account_id)
        .execute();
    }
  }
  return run;
}

/** One look at one account's Inbox since `watermark`. Returns how many messages became `bounced`. */
async function scanAccount(
  deps: ServiceDeps,
  provider: AccessTokenProvider,
  graph: GraphClient,
  accountId: string,
  watermark: number,
  scan: { activeUntil: number },
): Promise<number> {
  const account = await deps.db.selectFrom('accounts').selectAll().where('id', '=', accountId).executeTakeFirst();
  if (!account || account.status === 'disconnected' || !canUseDrafts(account)) {
    // Nothing to read (any more): no further looks until a send schedules one.
    await deps.db.deleteFrom('bounce_scans').where('account_id', '=', accountId).execute();
    return 0;
  }
  if (await laneBusy(deps, accountId)) {
    // Outlook allows 4 concurrent requests per app + mailbox and the outbox may be using them all (pacing.ts): a
    // look never competes with sends; it comes back shortly, when the mailbox's sends have finished.
    const now = deps.clock.now();
    await deps.db
      .updateTable('bounce_scans')
      .set({ next_scan_at: now + FIRST_LOOK_DELAY_MS, updated_at: now })
      .where('account_id', '=', accountId)
      .execute();
    return 0;
  }
  let newest = watermark;
  let bounced = 0;
  let backlog = false;
  await provider.withAccessToken(accountId, async (token) => {
    const secret = token.reveal();
    let page = await graph.listMessages(secret, 'inbox', {
      filter: `receivedDateTime ge ${new Date(watermark).toISOString()}`,
      orderby: ['receivedDateTime asc'],
      select: LISTING_FIELDS,
      top: PAGE_SIZE,
    });
    for (let pages = 1; ; pages += 1) {
      for (const message of page.data.value) {
        bounced += await examine(deps, graph, secret, account, message);
        const received = Date.parse(message.receivedDateTime ?? '');
        if (Number.isFinite(received) && received > newest) newest = received;
      }
      const next = page.data.nextLink;
      if (next === undefined) break;
      if (pages >= MAX_PAGES) {
        backlog = true;
        break;
      }
      page = await graph.listNextPage<GraphMessage>(secret, next);
    }
  });
  const now = deps.clock.now();
  const nextLook = backlog ? now : now < scan.activeUntil ? now + LOOK_INTERVAL_MS : null;
  await deps.db
    .updateTable('bounce_scans')
    .set({ watermark: newest, next_scan_at: nextLook, updated_at: now })
    .where('account_id', '=', accountId)
    .execute();
  return bounced;
}

/** Whether the outbox has a message of this mailbox in flight (a live lease; the lane index answers it). */
async function laneBusy(deps: ServiceDeps, accountId: string): Promise<boolean> {
  const row = await deps.db
    .selectFrom('outbox_messages')
    .select('id')
    .where('lane', '=', accountId)
    .where('status', '=', 'sending')
    .where('lease_until', '>=', deps.clock.now())
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Fetches a candidate's text body and applies it if it is a report about one of this account's messages. */
async function examine(
  deps: ServiceDeps,
  graph: GraphClient,
  token: string,
  account: AccountsTable,
  listed: GraphMessage,
): Promise<number> {
  if (!looksLikeNonDeliveryReport(listed, account.email)) return 0;
  const full = await graph.getMessage(token, listed.id, {
    select: ['subject', 'from', 'body'],
    bodyContentType: 'text',
  });
  const report = parseNonDeliveryReport(full.data, account.email);
  if (!report) return 0;
  return (await recordBounce(deps, account, report)) === 'bounced' ? 1 : 0;
}
