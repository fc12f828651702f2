import type { AccountsTable } from '../db/tables/accounts.js';
import type { WarmupAccountsTable } from '../db/tables/warmup.js';
import type { GraphClient } from '../graph/graph-client.js';
import { GraphError } from '../graph/graph-error.js';
import type { ServiceDeps } from '../services.js';
import type { AccessToken, AccessTokenProvider } from '../tokens/access-token-provider.js';
import { resolveTimeZone, type TimeZone } from './mailbox-time-zone.js';
import type { WarmupSettings } from './warmup-settings.js';

/**
 * One mailbox's run of the warm-up engine: what every step needs (the row, the account, the resolved settings and
 * zone, the Graph client and tokens), and the two Graph facts the steps share: the mailbox's time zone (fetched
 * once from mailboxSettings and stored) and its "Warm-up" folder (created on demand).
 */

export interface MailboxRun {
  readonly deps: ServiceDeps;
  readonly tokens: Pick<AccessTokenProvider, 'getAccessToken' | 'withAccessToken'>;
  /** The access token this run uses (obtained at its first Graph call: one token read per run, not per call). */
  token?: AccessToken;
  /** Sends `Prefer: IdType="ImmutableId"`: a message keeps its id through the moves warm-up makes (docs/graph.md §3.1). */
  readonly graph: GraphClient;
  readonly row: WarmupAccountsTable;
  readonly account: AccountsTable & { owner_external_id: string };
  readonly settings: WarmupSettings;
  zone: TimeZone;
  readonly now: number;
}

/** Microsoft throttled this mailbox (429, or 503 with Retry-After): a pause for it, never a failure (§G). */
export class MailboxThrottled extends Error {
  constructor(readonly retryAfterMs: number) {
    super(`Microsoft throttled the mailbox; retry after ${retryAfterMs} ms`);
  }
}

/** Default wait after a throttled answer without Retry-After. [GUESS] a minute, as Graph's guidance suggests backing off. */
const DEFAULT_THROTTLE_WAIT_MS = 60_000;

/**
 * A Graph call for the mailbox with the run's access token; a 401 goes through the provider's refresh-and-retry
 * (`withAccessToken`), and the run's next call reads the token afresh. 429/503 become `MailboxThrottled`.
 */
export async function callGraph<T>(run: MailboxRun, call: (token: string) => Promise<T>): Promise<T> {
  try {
    run.token ??= await run.tokens.getAccessToken(run.account.id);
    try {
      return await call(run.token.token.reveal());
    } catch (error) {
      if (!(error instanceof GraphError && error.evidence.httpStatus === 401)) throw error;
      run.token = undefined;
      return await run.tokens.withAccessToken(run.account.id, (token) => call(token.reveal()));
    }
  } catch (error) {
    if (error instanceof GraphError && (error.evidence.httpStatus === 429 || error.evidence.httpStatus === 503)) {
      throw new MailboxThrottled(error.evidence.retryAfterMs ?? DEFAULT_THROTTLE_WAIT_MS);
    }
    throw error;
  }
}

export function isNotFound(error: unknown): boolean {
  return error instanceof GraphError && error.evidence.httpStatus === 404;
}

/**
 * The zone the mailbox's day runs in (docs/warmup.md §B): the user's override, else mailboxSettings.timeZone (a
 * Windows or IANA name) fetched once and stored; a name we cannot map ("Customized Time Zone") falls back to UTC and
 * says so in `time_zone_source`, so the user can set an override.
 */
export async function ensureTimeZone(run: MailboxRun): Promise<void> {
  const override = run.settings.timeZoneOverride;
  if (override !== null) {
    const resolved = resolveTimeZone(override);
    if (resolved.ok) {
      run.zone = resolved.zone;
      await storeZone(run, resolved.zone, 'override');
      return;
    }
  }
  if (run.row.time_zone !== null && run.row.time_zone_source !== 'override') {
    run.zone = run.row.time_zone as TimeZone;
    return;
  }
  const settings = await callGraph(run, (token) => run.graph.getMailboxSettings(token));
  const name = typeof settings.data.timeZone === 'string' ? settings.data.timeZone : '';
  const resolved = resolveTimeZone(name);
  const zone = resolved.ok ? resolved.zone : ('UTC' as TimeZone);
  run.zone = zone;
  await storeZone(run, zone, resolved.ok ? 'mailbox' : `fallback:${name.slice(0, 80) || 'none'}`);
}

async function storeZone(run: MailboxRun, zone: string, source: string): Promise<void> {
  if (run.row.time_zone === zone && run.row.time_zone_source === source) return;
  await run.deps.db
    .updateTable('warmup_accounts')
    .set({ time_zone: zone, time_zone_source: source, updated_at: run.now })
    .where('account_id', '=', run.row.account_id)
    .execute();
  Object.assign(run.row, { time_zone: zone, time_zone_source: source });
}

/** The folder warm-up files into (docs/warmup.md §E). */
const WARMUP_FOLDER_NAME = 'Warm-up';

/** The id of the mailbox's "Warm-up" folder, created at the top level on first need (an existing one is reused). */
export async function warmupFolderId(run: MailboxRun): Promise<string> {
  if (run.row.warmup_folder_id !== null) return run.row.warmup_folder_id;
  const existing = await callGraph(run, (token) =>
    run.graph.listMailFolders(token, {
      filter: `displayName eq '${WARMUP_FOLDER_NAME}'`,
      select: ['id', 'displayName'],
    }),
  );
  const id =
    existing.data.value[0]?.id ??
    (await callGraph(run, (token) => run.graph.createMailFolder(token, { displayName: WARMUP_FOLDER_NAME }))).data.id;
  await run.deps.db
    .updateTable('warmup_accounts')
    .set({ warmup_folder_id: id, updated_at: run.now })
    .where('account_id', '=', run.row.account_id)
    .execute();
  run.row.warmup_folder_id = id;
  return id;
}
