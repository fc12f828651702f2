import { type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import { recordAccountHealth } from '../accounts/account-health.js';
import { groupCommit } from '../db/group-commit.js';
import { type ExpectedNotification, NotificationWaiter } from '../db/notification-waiter.js';
import type { Database } from '../db/schema.js';
import { StatementTemplate } from '../db/statement-template.js';
import type { AccountStatus, AccountsTable, AccountTokensTable } from '../db/tables/accounts.js';
import { withTransaction } from '../db/transaction.js';
import { GraphError } from '../graph/graph-error.js';
import { resolveAppMisconfiguredAlerts } from '../health/app-alerts.js';
import { classifyHealth } from '../health/classify-health.js';
import type { Health } from '../health/health.js';
import { raiseOperatorAlert, resolveOperatorAlerts } from '../health/operator-alerts.js';
import { remediationFor } from '../health/remediation.js';
import { storableEvidence } from '../microsoft/error-evidence.js';
import type { ServiceDeps } from '../services.js';
import { storeAccountTokens } from '../vault/account-tokens.js';
import type { PlaintextSecret, SealedSecret } from '../vault/secret-types.js';
import { disposeDataKey, type UnwrappedDataKey, type WrappedDataKeyRow } from '../vault/token-vault.js';
import {
  backoffDelayMs,
  DEFAULT_LIFECYCLE_POLICY,
  isHealthCheckedStatus,
  isTokenUsableStatus,
  type LifecycleColumns,
  type LifecyclePolicy,
  lifecycleColumnsAfterGrant,
  nextHealthCheckAt,
  type RandomSource,
  refreshableStatuses,
} from './lifecycle-policy.js';
import { type RefreshGrantOutcome, redeemRefreshToken, refreshScopeParameter } from './refresh-grant.js';
import {
  isUnchangedSince,
  type LeaseTake,
  newLeaseTake,
  REFRESH_LEASE_RELEASED_CHANNEL,
  releaseRefreshLease,
  type TakenRefreshLease,
  takeOverEndedLease,
  takeRefreshLeaseWithGeneration,
} from './refresh-lease.js';
import {
  type RefreshedTokens,
  storeRefreshedTokensAndReleaseIfPlain,
  storeRefreshedTokensIfPlain,
} from './store-refreshed-tokens.js';
import { TokenError } from './token-error.js';

/** A usable access token and when it expires (epoch ms, `issuedAt + expires_in`). */
export interface AccessToken {
  token: PlaintextSecret;
  expiresAt: number;
}

export interface GetAccessTokenOptions {
  /** Refresh even though the stored token has not expired (Graph refused it). */
  forceRefresh?: boolean;
  /**
   * With `forceRefresh`: the token Graph refused. If anyone (this process or another) refreshed since, the newer
   * token is returned without another refresh.
   */
  rejected?: AccessToken;
  /** The health check also looks at `mailbox_unusable` accounts (a licence added recovers them). */
  forHealthCheck?: boolean;
}

export interface AccessTokenProviderOptions {
  policy?: Partial<LifecyclePolicy>;
  random?: RandomSource;
}

/** Why a refresh is being considered; decides whether the stored token is good enough once the lease is held. */
type Intent =
  | { kind: 'expiry'; forHealthCheck: boolean }
  /** `rejected`: the plaintext token Graph refused (null: none stored); any other valid stored token is newer. */
  | { kind: 'forced'; rejected: string | null; forHealthCheck: boolean }
  /** A keep-alive claimed at `claimedAt`: skipped if anyone refreshed since. */
  | { kind: 'keepalive'; claimedAt: number };

type Decision = { use: AccessToken } | 'refresh' | 'skip' | TokenError;

/** The answer of one refresh attempt (under the lease on PostgreSQL); errors are thrown only after its outcome was stored. */
type FlightResult = { token: AccessToken } | { skipped: true } | { error: TokenError };

type AccountRow = AccountsTable;

/** A refresh lease this process holds (PostgreSQL): `released` once a statement ended it. */
interface HeldLease {
  owner: string;
  released: boolean;
}

/**
 * One read of an account: its row, its sealed tokens, its data key (still wrapped) and its refresh lease's
 * generation (undefined: no lease row), at one instant.
 */
interface AccountRead {
  row: AccountRow | undefined;
  tokens: AccountTokensTable | undefined;
  dataKey: WrappedDataKeyRow | undefined;
  leaseGeneration: number | undefined;
}

/** A read that found the account and its tokens. */
type RefreshRead = AccountRead & { row: AccountRow; tokens: AccountTokensTable };

/** What a read decided: the flight's answer, or a refresh with what was read. */
type ReadDecision = FlightResult | { refresh: RefreshRead };

/**
 * A read that may have taken the refresh lease (PostgreSQL, `readAccountTakingLeaseIfDue`): `lease` when it did,
 * `attempted` when the account was due by the take's filter (so no `lease` means another holder has it).
 */
type LookupDecision = ReadDecision & { lease?: TakenRefreshLease; attempted?: boolean };

/** A value kept per database handle (one per process and database, shared by every provider on it). */
function perDatabase<T>(create: (deps: ServiceDeps) => T): (deps: ServiceDeps) => T {
  const values = new WeakMap<object, T>();
  return (deps) => {
    let value = values.get(deps.db);
    if (value === undefined) {
      value = create(deps);
      values.set(deps.db, value);
    }
    return value;
  };
}

/**
 * Refreshes in flight, per database handle: every provider built on the same database in this process (the outbox's,
 * the worker's) shares one map, so single-flight holds for the process, not only for one provider instance.
 */
const inflightFor = perDatabase(() => new Map<string, Promise<FlightResult>>());

/**
 * Token lookups in progress (`getAccessToken` without `forceRefresh`), per database handle, keyed by account and
 * `forHealthCheck`: concurrent callers for one account share one lookup — its reads, and its refresh if one is
 * needed — instead of each reading the account and its tokens before joining the refresh. A burst of sends to one
 * mailbox whose token just expired reads the database once, not once per send. @see README Performance, refresh storm
 * Shared like `inflightFor`: providers of one process differ only in their jitter source, so whichever provider
 * started a lookup decides it for all.
 */
const lookupsFor = perDatabase(() => new Map<string, Promise<AccessToken>>());

/**
 * Refreshes of an account that ended in this process, counted only while a lookup of that account is reading (so the
 * map holds the accounts being read, not every account ever refreshed). On SQLite a lookup that read before such an
 * end may have read tokens that refresh replaced: its read is not handed to the next refresh, which reads again.
 * @see AccessTokenProvider `#obtainOrThrow`
 */
class LocalRefreshEnds {
  readonly #watched = new Map<string, { watchers: number; ends: number }>();

  /** From now until `stop`: `unchanged()` says whether no refresh of the account ended meanwhile. */
  watch(accountId: string): { unchanged(): boolean; stop(): void } {
    let entry = this.#watched.get(accountId);
    if (!entry) {
      entry = { watchers: 0, ends: 0 };
      this.#watched.set(accountId, entry);
    }
    entry.watchers++;
    const watched = entry;
    const endsAtStart = entry.ends;
    let stopped = false;
    return {
      unchanged: () => watched.ends === endsAtStart,
      stop: () => {
        if (stopped) return;
        stopped = true;
        if (--watched.watchers === 0 && this.#watched.get(accountId) === watched) this.#watched.delete(accountId);
      },
    };
  }

  ended(accountId: string): void {
    const entry = this.#watched.get(accountId);
    if (entry) entry.ends++;
  }
}

const localEndsFor = perDatabase(() => new LocalRefreshEnds());

/**
 * On PostgreSQL, where a process waiting for another process's refresh of the same account hears that the lease was
 * released (src/tokens/refresh-lease.ts): one listening connection per database handle, opened when a lease is
 * first found held.
 */
const releasesFor = perDatabase(
  (deps) =>
    new NotificationWaiter({
      // The configured database is the one in use, except in a test that hands the service another: then it polls.
      url: deps.config.database.dialect === 'postgres' ? deps.config.database.url.reveal() : undefined,
      channel: REFRESH_LEASE_RELEASED_CHANNEL,
      logger: deps.logger,
    }),
);

/** The account's columns after a successful grant, whichever path stores it. */
function accountColumnsAfterRefresh(columns: LifecycleColumns, newRefreshToken: boolean) {
  return {
    last_refreshed_at: columns.last_refreshed_at,
    access_token_expires_at: columns.access_token_expires_at,
    // Without a new refresh token the old one's window did not move.
    ...(newRefreshToken ? { refresh_token_issued_at: columns.refresh_token_issued_at } : {}),
    next_keepalive_at: columns.next_keepalive_at,
    refresh_failures: 0,
    refresh_retry_at: null,
  };
}

/**
 * The single way the rest of mailbridge gets a valid Microsoft access token for an account.
 *
 * - Refreshes ahead of expiry (`access_token_expires_at` = issuedAt + expires_in, minus a margin) and once more when
 *   Graph answers 401 (`withAccessToken`).
 * - Single-flight per account: inside a process through a map of in-flight refreshes (shared by every provider on
 *   the same database handle); across processes on PostgreSQL through the account's refresh lease
 *   (src/tokens/refresh-lease.ts), which the lookup's read takes in the same statement when the account is due:
 *   the holder reads the row again unless the lease's generation shows no refresh ended since its read (another
 *   process may have refreshed: its token is used), makes the token request outside any transaction, and stores the
 *   rotated refresh token with the new access token in one transaction (one statement with the lease's release, in
 *   the common case: src/tokens/store-refreshed-tokens.ts) before handing it out; a process that finds the lease
 *   held waits for its release (LISTEN/NOTIFY) and uses what the holder stored. On SQLite one process owns the database file, so the in-process
 *   single-flight is the serialisation. Were two processes ever to refresh the same account on one SQLite file, both
 *   refresh tokens stay valid at Microsoft (docs/entra.md §1.5) and the last written wins: harmless.
 * - Failures become evidence → `classifyHealth` → `recordAccountHealth`. Transient ones never mark the account
 *   broken: `degraded`, exponential backoff with jitter honouring Retry-After, a failure budget that alerts the
 *   operator, and a cooldown during which Microsoft is not asked again (a still-valid token is served meanwhile).
 *
 * @see docs/engineering.md §8, docs/entra.md §1.5, §2, issue 3 item 6
 */
export class AccessTokenProvider {
  readonly #deps: ServiceDeps;
  readonly #policy: LifecyclePolicy;
  readonly #random: RandomSource;
  readonly #inflight: Map<string, Promise<FlightResult>>;
  readonly #lookups: Map<string, Promise<AccessToken>>;
  readonly #localEnds: LocalRefreshEnds;

  constructor(deps: ServiceDeps, options: AccessTokenProviderOptions = {}) {
    this.#deps = deps;
    this.#inflight = inflightFor(deps);
    this.#lookups = lookupsFor(deps);
    this.#localEnds = localEndsFor(deps);
    this.#policy = { ...DEFAULT_LIFECYCLE_POLICY, ...options.policy };
    this.#random = options.random ?? Math.random;
  }

  get policy(): Readonly<LifecyclePolicy> {
    return this.#policy;
  }

  /**
   * A valid access token for the account. Throws `TokenError`: TOKENS_ACCOUNT_NOT_FOUND, TOKENS_ACCOUNT_UNAVAILABLE
   * (details: status, reason), TOKENS_COOLING_DOWN (retryAt), TOKENS_REFRESH_TRANSIENT, TOKENS_APP_MISCONFIGURED,
   * TOKENS_REFRESH_FAILED (with the evidence).
   */
  async getAccessToken(accountId: string, options: GetAccessTokenOptions = {}): Promise<AccessToken> {
    const forHealthCheck = options.forHealthCheck ?? false;
    if (!options.forceRefresh) {
      const key = `${accountId}|${forHealthCheck}`;
      const running = this.#lookups.get(key);
      if (running) return running;
      const lookup = this.#obtainOrThrow(accountId, { kind: 'expiry', forHealthCheck }).finally(() => {
        this.#lookups.delete(key);
      });
      this.#lookups.set(key, lookup);
      return lookup;
    }
    const rejected = options.rejected?.token.reveal() ?? (await this.#storedAccessToken(accountId));
    const intent: Intent = { kind: 'forced', rejected, forHealthCheck };
    // A refresh already in flight may end by handing out the very token that was refused (it found the stored one
    // good enough); then one more, now forced, refresh.
    for (let attempt = 0; attempt < 2; attempt++) {
      const token = await this.#obtainOrThrow(accountId, intent);
      if (token.token.reveal() !== rejected) return token;
    }
    return this.#obtainOrThrow(accountId, intent);
  }

  /**
   * Calls `fn` with a valid access token; when Graph answers 401, refreshes once and calls it once more. A second
   * 401 right after a refresh means the grant is broken (`reconnect_required`): that is recorded, then thrown.
   * @see docs/graph.md §3.2, classify-health.ts `afterFreshRefresh`
   */
  async withAccessToken<T>(
    accountId: string,
    fn: (token: PlaintextSecret) => Promise<T>,
    options: { forHealthCheck?: boolean } = {},
  ): Promise<T> {
    const first = await this.getAccessToken(accountId, options);
    try {
      return await fn(first.token);
    } catch (error) {
      if (!isUnauthorized(error)) throw error;
    }
    const second = await this.getAccessToken(accountId, { ...options, forceRefresh: true, rejected: first });
    try {
      return await fn(second.token);
    } catch (error) {
      if (isUnauthorized(error)) {
        await this.recordGraphFailure(accountId, classifyHealth(error.evidence, { afterFreshRefresh: true }));
      }
      throw error;
    }
  }

  /**
   * The keep-alive's refresh: a refresh-token grant that slides the 90-day window, unless someone refreshed after
   * the keep-alive was claimed. Returns what happened; throws `TokenError` like `getAccessToken`.
   */
  async refreshForKeepalive(accountId: string, claimedAt: number): Promise<'refreshed' | 'skipped'> {
    const result = await this.#flight(accountId, { kind: 'keepalive', claimedAt });
    if ('error' in result) throw result.error;
    return 'skipped' in result ? 'skipped' : 'refreshed';
  }

  /** Records what a Graph failure says about the account (used after a 401 that a refresh did not cure). */
  async recordGraphFailure(accountId: string, health: Health): Promise<void> {
    await withTransaction(this.#deps.db, async (trx) => {
      const row = await readAccount(trx, accountId, { forUpdate: this.#deps.dialect === 'postgres' });
      if (!row) return;
      await recordAccountHealth(trx, this.#deps, row, health);
      if (!isHealthCheckedStatus(health.status)) {
        await trx
          .updateTable('accounts')
          .set({ next_keepalive_at: null, next_health_check_at: null })
          .where('id', '=', accountId)
          .execute();
      }
    });
  }

  // ---- internals ----

  async #obtainOrThrow(accountId: string, intent: Intent): Promise<AccessToken> {
    // Fast path: most calls find a stored token that is good for a while. On PostgreSQL the same statement takes
    // the refresh lease of an account due for a refresh (`readAccountTakingLeaseIfDue`).
    if (this.#deps.dialect === 'postgres') {
      const expiry = intent.kind === 'expiry';
      const releases = releasesFor(this.#deps);
      // Already listening (refreshes were waited for lately): expect before the read, so that if the read finds the
      // lease held by another process its release cannot be missed, and no second attempt is needed to be sure.
      const early = expiry && releases.listening ? await releases.expect(accountId) : undefined;
      let first: LookupDecision;
      try {
        first = await this.#readAndDecide(accountId, intent, { takeLeaseIfDue: expiry });
      } catch (error) {
        early?.cancel();
        throw error;
      }
      let result: FlightResult;
      if ('refresh' in first) {
        const heldElsewhere = first.attempted && first.lease === undefined ? early : undefined;
        if (!heldElsewhere) early?.cancel();
        result = await this.#flight(accountId, intent, first.refresh, first.lease, heldElsewhere);
      } else {
        early?.cancel();
        // Taken in the read, but the account is not refreshed after all (the read decides, not the take's filter).
        if (first.lease) await this.#release(accountId, first.lease.owner);
        result = first;
      }
      return this.#tokenOrThrow(accountId, intent, result);
    }
    const watch = this.#localEnds.watch(accountId);
    let first: ReadDecision;
    let read: RefreshRead | undefined;
    try {
      first = await this.#readAndDecide(accountId, intent);
      // On SQLite what was read is handed to the refresh only if no refresh of the account ended in this process
      // since before the read (one of them might have stored new tokens after it).
      read = 'refresh' in first && watch.unchanged() ? first.refresh : undefined;
    } finally {
      watch.stop();
    }
    return this.#tokenOrThrow(
      accountId,
      intent,
      'refresh' in first ? await this.#flight(accountId, intent, read) : first,
    );
  }

  #tokenOrThrow(accountId: string, intent: Intent, result: FlightResult): Promise<AccessToken> | AccessToken {
    if ('error' in result) throw result.error;
    // Only a keep-alive skips; having joined one, look again now that it is over.
    if ('skipped' in result) return this.#obtainOrThrow(accountId, intent);
    return result.token;
  }

  /**
   * Joins the refresh in flight for this account in this process, or starts one (from `read`, when given; under
   * `lease` when the read took it).
   */
  #flight(
    accountId: string,
    intent: Intent,
    read?: RefreshRead,
    lease?: TakenRefreshLease,
    heldElsewhere?: ExpectedNotification,
  ): Promise<FlightResult> {
    const running = this.#inflight.get(accountId);
    if (running) {
      heldElsewhere?.cancel();
      // The running flight may be waiting for this very lease (taken by this lookup's read): hand it back.
      return lease ? this.#release(accountId, lease.owner).then(() => running) : running;
    }
    const started = this.#refreshAcrossProcesses(accountId, intent, read, lease, heldElsewhere).finally(() => {
      this.#inflight.delete(accountId);
      this.#localEnds.ended(accountId);
    });
    this.#inflight.set(accountId, started);
    return started;
  }

  /**
   * On PostgreSQL under the account's refresh lease. `read`, what the caller decided from: used as it is when the
   * lease shows that no refresh ended since it was read, read again otherwise. `takenInRead`: the lease, taken by
   * that read. `heldElsewhere`: that read found the lease held, and this wait for its release began before it.
   */
  async #refreshAcrossProcesses(
    accountId: string,
    intent: Intent,
    read?: RefreshRead,
    takenInRead?: TakenRefreshLease,
    heldElsewhere?: ExpectedNotification,
  ): Promise<FlightResult> {
    const { db, dialect, clock } = this.#deps;
    // SQLite: one process owns the file and this process's refreshes of the account are this flight (`read` is
    // current: see `#obtainOrThrow`).
    if (dialect !== 'postgres') return this.#refreshIfStillNeeded(accountId, intent, read);
    const releases = releasesFor(this.#deps);
    let lastRead = read;
    let taken = takenInRead;
    let waitFirst = heldElsewhere;
    for (;;) {
      if (waitFirst) {
        // Listening since before the read that found the lease held: its release is heard, whenever it came.
        const released = waitFirst;
        waitFirst = undefined;
        await released.arrived;
        const again = await this.#readAndDecide(accountId, intent);
        if (!('refresh' in again)) return again;
        lastRead = again.refresh;
        continue;
      }
      // Already listening (other refreshes are waiting): expect before the attempt, so a release that comes after a
      // failed attempt is heard, never missed. Otherwise the connection is opened only if the attempt fails (an
      // uncontended refresh never opens it), and the account is read once more after listening began (below).
      // A lookup's read that took the lease already needs no attempt.
      const listenedBefore = !taken && releases.listening ? await releases.expect(accountId) : undefined;
      const lease = taken ?? (await takeRefreshLeaseWithGeneration(db, accountId, clock.now()));
      taken = undefined;
      if (lease !== undefined) {
        listenedBefore?.cancel();
        const current = lastRead && isUnchangedSince(lease, lastRead.leaseGeneration) ? lastRead : undefined;
        const held: HeldLease = { owner: lease.owner, released: false };
        try {
          return await this.#refreshIfStillNeeded(accountId, intent, current, held);
        } finally {
          // Released already when the refresh's outcome was stored with the release in one statement.
          if (!held.released) await this.#release(accountId, held.owner);
        }
      }
      // Another process is refreshing this account: wait for its release, then decide again from what it stored.
      const released = listenedBefore ?? (await releases.expect(accountId));
      if (!listenedBefore) {
        // The release may have come between the attempt and the start of listening: look before waiting.
        const meanwhile = await this.#readAndDecide(accountId, intent);
        if (!('refresh' in meanwhile)) {
          released.cancel();
          return meanwhile;
        }
      }
      await released.arrived;
      const again = await this.#readAndDecide(accountId, intent);
      if (!('refresh' in again)) return again;
      lastRead = again.refresh;
    }
  }

  /** Ends a refresh lease this process holds (with a notification to the processes waiting for it). */
  async #release(accountId: string, owner: string): Promise<void> {
    const { db, logger } = this.#deps;
    await releaseRefreshLease(db, accountId, owner, { notify: true }).catch((error: unknown) => {
      // The lease ends by itself (REFRESH_LEASE_MS); until then another process waits, then refreshes.
      logger.warn({ err: error, accountId }, 'could not release the refresh lease');
    });
  }

  /** Reads the account and its tokens now and decides: the flight's answer, or a refresh with what was read. */
  async #readAndDecide(
    accountId: string,
    intent: Intent,
    options: { takeLeaseIfDue?: boolean } = {},
  ): Promise<LookupDecision> {
    const { db, clock } = this.#deps;
    let read: AccountRead;
    let lease: TakenRefreshLease | undefined;
    let attempted = false;
    if (options.takeLeaseIfDue && intent.kind === 'expiry') {
      const now = clock.now();
      const taking = await readAccountTakingLeaseIfDue(db, accountId, {
        take: newLeaseTake(now),
        dueBy: now + this.#policy.refreshMarginMs,
        forHealthCheck: intent.forHealthCheck,
      });
      read = taking;
      lease = taking.lease;
      attempted = taking.attempted;
    } else read = await readAccountTokensAndKey(db, accountId);
    let decided: ReadDecision;
    try {
      const decision = await this.#decide(db, accountId, read, intent);
      if (decision instanceof TokenError) decided = { error: decision };
      else if (typeof decision === 'object') decided = { token: decision.use };
      else if (decision === 'skip') decided = { skipped: true };
      else if (!isRefreshRead(read)) decided = { error: unavailable(accountId, 'disconnected', 'no_tokens') };
      else decided = { refresh: read };
    } catch (error) {
      if (lease) await this.#release(accountId, lease.owner);
      throw error;
    }
    return lease || attempted ? { ...decided, lease, attempted } : decided;
  }

  /**
   * Reads the account again (on PostgreSQL: after taking the lease, so a refresh by another process is seen; not
   * when the lease proved `current` still current), decides, and refreshes if still needed: the token request
   * outside any transaction, its outcome written in one.
   */
  async #refreshIfStillNeeded(
    accountId: string,
    intent: Intent,
    current?: RefreshRead,
    lease?: HeldLease,
  ): Promise<FlightResult> {
    const { db, vault } = this.#deps;
    let read = current;
    if (!read) {
      const again = await this.#readAndDecide(accountId, intent);
      if (!('refresh' in again)) return again;
      read = again.refresh;
    }
    // Unwrapped once: it opens the refresh token now and seals the new tokens after the grant.
    const dataKey = read.dataKey ? await vault.unwrapDataKey(db, read.dataKey) : undefined;
    try {
      return await this.#refreshWith(accountId, intent, read, dataKey, lease);
    } finally {
      disposeDataKey(dataKey);
    }
  }

  async #refreshWith(
    accountId: string,
    intent: Intent,
    { row, tokens }: RefreshRead,
    dataKey: UnwrappedDataKey | undefined,
    lease: HeldLease | undefined,
  ): Promise<FlightResult> {
    const { db, dialect, vault, clock, microsoft, logger } = this.#deps;
    const refreshToken = dataKey
      ? await vault.openWith(db, dataKey, 'refresh_token', tokens.refresh_token)
      : await vault.open(db, accountId, 'refresh_token', tokens.refresh_token);
    const requestedAt = clock.now();
    const outcome = await redeemRefreshToken(microsoft, refreshToken, {
      scope: refreshScopeParameter(parseScopeList(row.granted_scopes)),
    });
    this.#deps.metrics.refreshes.inc({
      outcome: outcome.ok ? 'ok' : classifyHealth(outcome.evidence).status,
      reason: intent.kind,
    });
    if (outcome.ok) logger.debug({ accountId, intent: intent.kind }, 'access token refreshed');
    else {
      logger.warn(
        { accountId, intent: intent.kind, evidence: storableEvidence(outcome.evidence) },
        'token refresh failed',
      );
    }
    // Drawn once (they carry jitter): the general way below writes the same ones if the plain one does not apply.
    const columns = outcome.ok
      ? lifecycleColumnsAfterGrant(requestedAt, outcome.expiresInSeconds, {
          policy: this.#policy,
          random: this.#random,
        })
      : undefined;
    const used = { usedRefreshToken: refreshToken, requestedAt, dataKey, columns };
    if (outcome.ok && columns && dataKey) {
      // The common case, a connected account with nothing else to change, in fewer statements (issue 14).
      const [sealedRefresh, sealedAccess] = vault.sealWith(dataKey, [
        ['refresh_token', outcome.refreshToken ?? refreshToken],
        ['access_token', outcome.accessToken],
      ]);
      const plain: RefreshedTokens = {
        accountId,
        dataKeyId: dataKey.dataKeyId,
        refreshToken: sealedRefresh!,
        accessToken: sealedAccess!,
        now: clock.now(),
        columns: accountColumnsAfterRefresh(columns, outcome.refreshToken !== undefined),
      };
      const token = { token: { token: outcome.accessToken, expiresAt: columns.access_token_expires_at ?? plain.now } };
      if (dialect === 'postgres' && lease) {
        if (await storeRefreshedTokensAndReleaseIfPlain(db, plain, lease.owner)) {
          lease.released = true;
          return token;
        }
      } else if (dialect !== 'postgres') {
        // SQLite: the plain stores of refreshes that ended in the same turn share one commit (src/db/group-commit.ts).
        // When the plain one does not apply it wrote nothing, and the general way below reads and decides afresh.
        if (await groupCommit(db, dialect, (trx) => storeRefreshedTokensIfPlain(trx, plain))) return token;
      }
    }
    return withTransaction(db, (trx) => this.#applyOutcome(trx, accountId, intent, outcome, used));
  }

  /** Whether the stored token will do, a refresh is needed, or neither is possible. Opens the token to hand it out. */
  async #decide(db: Kysely<Database>, accountId: string, read: AccountRead, intent: Intent): Promise<Decision> {
    const { row, tokens } = read;
    if (!row) return new TokenError('TOKENS_ACCOUNT_NOT_FOUND', `no account ${accountId}`, { accountId });
    const allowed =
      intent.kind !== 'keepalive' && intent.forHealthCheck
        ? isHealthCheckedStatus(row.status)
        : isTokenUsableStatus(row.status);
    if (!allowed) return unavailable(accountId, row.status, row.status_reason);
    if (!tokens) return unavailable(accountId, row.status, 'no_tokens');

    const now = this.#deps.clock.now();
    const expiresAt = tokens.access_token === null ? null : row.access_token_expires_at;
    const stillValid = expiresAt !== null && expiresAt > now;
    const use = async (): Promise<Decision> => ({ use: await this.#openAccessToken(db, read) });
    switch (intent.kind) {
      case 'expiry':
        if (expiresAt !== null && expiresAt - this.#policy.refreshMarginMs > now) return use();
        break;
      case 'forced':
        if (stillValid) {
          // Someone refreshed since the token was refused: use theirs.
          const stored = await this.#openAccessToken(db, read);
          if (stored.token.reveal() !== intent.rejected) return { use: stored };
        }
        break;
      case 'keepalive':
        if (row.last_refreshed_at !== null && row.last_refreshed_at >= intent.claimedAt) return 'skip';
        break;
    }
    if (row.refresh_retry_at !== null && row.refresh_retry_at > now) {
      // Cooling down after a failure: do not ask Microsoft again yet.
      if (intent.kind === 'keepalive') return 'skip';
      if (intent.kind === 'expiry' && stillValid) return use();
      return new TokenError(
        'TOKENS_COOLING_DOWN',
        `account ${accountId} is cooling down after a failed refresh; retry after ${new Date(row.refresh_retry_at).toISOString()}`,
        { accountId, retryAt: row.refresh_retry_at, details: { status: row.status, reason: row.status_reason } },
      );
    }
    return 'refresh';
  }

  /** The stored access token's plaintext, or null. */
  async #storedAccessToken(accountId: string): Promise<string | null> {
    const read = await readAccountTokensAndKey(this.#deps.db, accountId);
    if (!read.tokens?.access_token) return null;
    const { access_token } = read.tokens;
    return (await this.#openSealed(this.#deps.db, accountId, read.dataKey, 'access_token', access_token)).reveal();
  }

  async #openAccessToken(db: Kysely<Database>, { row, tokens, dataKey }: AccountRead): Promise<AccessToken> {
    if (!row || !tokens || tokens.access_token === null || row.access_token_expires_at === null) {
      const accountId = row?.id ?? 'unknown';
      throw new TokenError('TOKENS_REFRESH_FAILED', `account ${accountId} holds no access token`, { accountId });
    }
    const token = await this.#openSealed(db, row.id, dataKey, 'access_token', tokens.access_token);
    return { token, expiresAt: row.access_token_expires_at };
  }

  /** Opens a value with the data key read along with it (no statement); through the vault when none was read. */
  async #openSealed(
    db: Kysely<Database>,
    accountId: string,
    wrapped: WrappedDataKeyRow | undefined,
    field: string,
    sealed: SealedSecret,
  ): Promise<PlaintextSecret> {
    const { vault } = this.#deps;
    // No data key read: the vault's own read says why (VAULT_DATA_KEY_MISSING).
    if (!wrapped) return vault.open(db, accountId, field, sealed);
    const dataKey = await vault.unwrapDataKey(db, wrapped);
    try {
      return await vault.openWith(db, dataKey, field, sealed);
    } finally {
      disposeDataKey(dataKey);
    }
  }

  /** Writes the refresh's outcome in `trx`. */
  async #applyOutcome(
    trx: Kysely<Database>,
    accountId: string,
    intent: Intent,
    outcome: RefreshGrantOutcome,
    used: {
      usedRefreshToken: PlaintextSecret;
      requestedAt: number;
      dataKey: UnwrappedDataKey | undefined;
      /** The lifecycle columns after a successful grant (drawn by the caller). */
      columns: LifecycleColumns | undefined;
    },
  ): Promise<FlightResult> {
    const { dialect, clock, vault } = this.#deps;
    const { usedRefreshToken, requestedAt } = used;
    // Locked for update: a disconnect committing meanwhile either came first (seen here) or waits for this
    // transaction (and then deletes what it wrote).
    const read = await readAccountTokensAndKey(trx, accountId, { forUpdate: dialect === 'postgres' });
    const { row, tokens } = read;
    if (!row) return { error: new TokenError('TOKENS_ACCOUNT_NOT_FOUND', `no account ${accountId}`, { accountId }) };
    if (row.status === 'disconnected' || !tokens) {
      // Disconnected while the token request was out: the new tokens are dropped, never stored.
      return { error: unavailable(accountId, row.status, row.status_reason ?? 'no_tokens') };
    }
    const now = clock.now();

    if (outcome.ok) {
      // The rotated refresh token is stored in this transaction, before the access token is handed out.
      // @see docs/engineering.md §8
      // Sealed with the key the refresh token was opened with, unless the account got another one meanwhile.
      const sameKey = used.dataKey !== undefined && read.dataKey?.data_key_id === used.dataKey.dataKeyId;
      await storeAccountTokens(
        trx,
        vault,
        clock,
        accountId,
        { accessToken: outcome.accessToken, refreshToken: outcome.refreshToken ?? usedRefreshToken },
        sameKey ? used.dataKey : undefined,
      );
      const columns =
        used.columns ??
        lifecycleColumnsAfterGrant(requestedAt, outcome.expiresInSeconds, {
          policy: this.#policy,
          random: this.#random,
        });
      const updated = await trx
        .updateTable('accounts')
        .set({ ...accountColumnsAfterRefresh(columns, outcome.refreshToken !== undefined), updated_at: now })
        .where('id', '=', accountId)
        // Whether an `app.misconfigured` alert is open, in the same statement (the partial index of open alerts
        // answers it): nearly always none, and then the alerts need no statement of their own (issue 14).
        .returning((eb) =>
          eb
            .selectFrom('operator_alerts')
            .select(sql<number>`count(*)`.as('open'))
            .where('kind', '=', 'app.misconfigured')
            .where('resolved_at', 'is', null)
            .as('open_app_alerts'),
        )
        .executeTakeFirst();
      // A refresh proves the grant (and the app) work; a mailbox problem is the health check's to clear.
      if (row.status === 'degraded' || row.status === 'unknown' || row.status === 'app_misconfigured') {
        await recordAccountHealth(trx, this.#deps, row, { status: 'connected' });
      }
      if (Number(updated?.open_app_alerts ?? 0) > 0) await resolveAppMisconfiguredAlerts(trx, this.#deps);
      if (row.refresh_failures > 0) {
        await resolveOperatorAlerts(trx, this.#deps, 'account.refresh_failing', { reason: accountId });
      }
      return { token: { token: outcome.accessToken, expiresAt: columns.access_token_expires_at ?? now } };
    }

    const health = classifyHealth(outcome.evidence);
    const current = await this.#currentIfValid(trx, { ...read, row, tokens }, now);
    const serveCurrent = intent.kind === 'expiry' && current !== undefined;

    if (health.status === 'app_misconfigured') {
      const retryAt = now + this.#policy.appMisconfiguredCooldownMs;
      await trx
        .updateTable('accounts')
        .set({ refresh_retry_at: retryAt, updated_at: now })
        .where('id', '=', accountId)
        .execute();
      await recordAccountHealth(trx, this.#deps, row, health);
      if (serveCurrent) return { token: current };
      return {
        error: new TokenError(
          'TOKENS_APP_MISCONFIGURED',
          `Microsoft rejects this service's app (${health.reason}); the operator has been alerted`,
          { accountId, evidence: health.evidence, health, retryAt, details: { reason: health.reason } },
        ),
      };
    }

    if (health.status === 'degraded' || health.status === 'unknown' || health.status === 'connected') {
      // `connected` cannot come from token-endpoint evidence; if it ever did, it is a failure we do not understand.
      const kept: Health = health.status === 'connected' ? { status: 'unknown', evidence: outcome.evidence } : health;
      const failures = row.refresh_failures + 1;
      const retryAfterMs = kept.status === 'degraded' ? kept.retryAfterMs : 0;
      const retryAt = now + backoffDelayMs(failures, retryAfterMs, this.#policy, this.#random);
      await trx
        .updateTable('accounts')
        .set({
          refresh_failures: failures,
          refresh_retry_at: retryAt,
          // The worker tries again at the retry time even if nobody asks for a token.
          next_health_check_at: retryAt,
          updated_at: now,
        })
        .where('id', '=', accountId)
        .execute();
      const failingSince = row.status === kept.status ? row.status_changed_at : now;
      await recordAccountHealth(trx, this.#deps, row, kept);
      if (failures >= this.#policy.failureBudgetCount && now - failingSince >= this.#policy.failureBudgetSpanMs) {
        await raiseOperatorAlert(trx, this.#deps, {
          kind: 'account.refresh_failing',
          reason: accountId,
          detail: `Refreshing ${row.email} (${accountId}) has failed ${failures} times in a row since ${new Date(failingSince).toISOString()}. ${remediationFor(kept).operator}`,
        });
      }
      if (serveCurrent) return { token: current };
      const transient = kept.status === 'degraded';
      return {
        error: new TokenError(
          transient ? 'TOKENS_REFRESH_TRANSIENT' : 'TOKENS_REFRESH_FAILED',
          transient
            ? `Microsoft is temporarily unavailable for account ${accountId} (${kept.reason}); retrying after ${new Date(retryAt).toISOString()}`
            : `Microsoft refused to refresh account ${accountId} with an error mailbridge does not classify; retrying after ${new Date(retryAt).toISOString()}`,
          { accountId, evidence: outcome.evidence, health: kept, retryAt },
        ),
      };
    }

    // reconnect_required, mailbox_unusable, admin_approval_pending: a person must act. Stop asking Microsoft on a
    // schedule, except that the health check keeps looking at an unusable mailbox (it may be licensed again).
    await trx
      .updateTable('accounts')
      .set({
        refresh_failures: 0,
        refresh_retry_at: null,
        next_keepalive_at: null,
        next_health_check_at:
          health.status === 'mailbox_unusable' ? nextHealthCheckAt(now, this.#policy, this.#random) : null,
        updated_at: now,
      })
      .where('id', '=', accountId)
      .execute();
    await recordAccountHealth(trx, this.#deps, row, health);
    return {
      error: unavailable(accountId, health.status, 'reason' in health ? health.reason : null, {
        evidence: outcome.evidence,
        health,
      }),
    };
  }

  async #currentIfValid(trx: Kysely<Database>, read: RefreshRead, now: number): Promise<AccessToken | undefined> {
    const { row, tokens } = read;
    if (tokens.access_token === null || row.access_token_expires_at === null) return undefined;
    if (row.access_token_expires_at <= now) return undefined;
    return this.#openAccessToken(trx, read);
  }
}

/** The account's `granted_scopes` JSON array; empty when unreadable (then no `scope` is sent). */
function parseScopeList(json: string): string[] {
  try {
    const parsed: unknown = JSON.parse(json);
    return Array.isArray(parsed) ? parsed.filter((scope): scope is string => typeof scope === 'string') : [];
  } catch {
    // A row written by hand or by an older version: refreshing without `scope` still works.
    return [];
  }
}

function isUnauthorized(error: unknown): error is GraphError {
  return error instanceof GraphError && error.evidence.httpStatus === 401;
}

function unavailable(
  accountId: string,
  status: string,
  reason: string | null,
  extra: Pick<ConstructorParameters<typeof TokenError>[2], 'evidence' | 'health'> = {},
): TokenError {
  return new TokenError(
    'TOKENS_ACCOUNT_UNAVAILABLE',
    `account ${accountId} cannot be used (${status}${reason ? `: ${reason}` : ''})`,
    { accountId, ...extra, details: { status, reason } },
  );
}

async function readAccount(
  db: Kysely<Database>,
  accountId: string,
  options: { forUpdate?: boolean } = {},
): Promise<AccountRow | undefined> {
  const query = db.selectFrom('accounts').selectAll().where('id', '=', accountId);
  return (options.forUpdate ? query.forUpdate() : query).executeTakeFirst();
}

function isRefreshRead(read: AccountRead): read is RefreshRead {
  return read.row !== undefined && read.tokens !== undefined;
}

/**
 * The account, its token row and its data key in one statement: the fast path of every send reads all three (the
 * access token is opened with the data key), and each statement is a round trip on PostgreSQL (issue 14). One
 * statement also reads them at one instant. `forUpdate` (PostgreSQL) locks the account row only.
 */
async function readAccountTokensAndKey(
  db: Kysely<Database>,
  accountId: string,
  options: { forUpdate?: boolean } = {},
): Promise<AccountRead> {
  if (!options.forUpdate) return toAccountRead(await accountTokensAndKey.firstRow(db, { accountId }));
  const query = db.selectFrom('accounts').$call(withTokensKeyAndLease).where('accounts.id', '=', accountId);
  return toAccountRead(await query.forUpdate(['accounts']).executeTakeFirst());
}

/** The read of every send's fast path (issue 14: a template, src/db/statement-template.ts). */
const accountTokensAndKey = new StatementTemplate((db, slots: { accountId: string }) =>
  db.selectFrom('accounts').$call(withTokensKeyAndLease).where('accounts.id', '=', slots.accountId),
);

/** When the lookup of a PostgreSQL account takes its refresh lease in the same statement (see below). */
interface DueLeaseTake {
  take: LeaseTake;
  /** The account is due when its access token expires by then (now + the refresh margin). */
  dueBy: number;
  /** A health check's lookup (its tokens are refreshed in more statuses: `refreshableStatuses`). */
  forHealthCheck: boolean;
}

/**
 * `readAccountTokensAndKey` that also takes the account's refresh lease, in the same statement, when the account
 * looks due for a refresh (its token expires within the margin, no cooldown, a refreshable status, tokens stored):
 * a refresh then needs no statement of its own to take the lease (issue 14; a lost race shows as `lease` undefined).
 * The read is of the statement's snapshot, the take of the lease row as last committed: `isUnchangedSince` with the
 * generation read says whether a refresh ended in between (then what was read is not used for the refresh). The
 * caller decides; a lease taken for a lookup that does not refresh after all is released.
 */
async function readAccountTakingLeaseIfDue(
  db: Kysely<Database>,
  accountId: string,
  due: DueLeaseTake,
): Promise<AccountRead & { lease: TakenRefreshLease | undefined; attempted: boolean }> {
  const { take } = due;
  const statement = due.forHealthCheck ? readsTakingLease.forHealthCheck : readsTakingLease.forUse;
  const joined = await statement.firstRow(db, { accountId, ...take, dueBy: due.dueBy });
  if (!joined) return { ...toAccountRead(undefined), lease: undefined, attempted: false };
  const { taken_generation, ...rest } = joined;
  const lease =
    taken_generation === null || taken_generation === undefined
      ? undefined
      : { owner: take.owner, generation: Number(taken_generation) };
  const read = toAccountRead(rest);
  // The take's filter on what the statement read (its snapshot is the read's): true when the take was tried, so no
  // lease means another holder had it.
  const row = read.row;
  const attempted =
    row !== undefined &&
    read.tokens !== undefined &&
    (due.forHealthCheck ? isHealthCheckedStatus(row.status) : isTokenUsableStatus(row.status)) &&
    (row.access_token_expires_at === null || row.access_token_expires_at <= due.dueBy) &&
    (row.refresh_retry_at === null || row.refresh_retry_at <= take.now);
  return { ...read, lease, attempted };
}

/**
 * `readAccountTakingLeaseIfDue`'s statement, run by every send on PostgreSQL: a template per set of refreshable
 * statuses (issue 14: it was built and compiled on every call, and Kysely's frames were 18 % of a refreshing
 * process's busy time; README Performance, refresh storm).
 */
function readTakingLease(statuses: readonly AccountStatus[]) {
  return new StatementTemplate((db, slots: LeaseTake & { accountId: string; dueBy: number }) =>
    db
      .with('taken', (qb) =>
        qb
          .insertInto('account_refresh_leases')
          .columns(['account_id', 'owner', 'lease_until'])
          .expression((eb) =>
            eb
              .selectFrom('accounts as a')
              .select([
                'a.id',
                sql<string>`cast(${slots.owner} as text)`.as('owner'),
                sql<number>`cast(${slots.leaseUntil} as bigint)`.as('lease_until'),
              ])
              .where('a.id', '=', slots.accountId)
              .where('a.status', 'in', statuses)
              .where((w) =>
                w.or([w('a.access_token_expires_at', 'is', null), w('a.access_token_expires_at', '<=', slots.dueBy)]),
              )
              .where((w) => w.or([w('a.refresh_retry_at', 'is', null), w('a.refresh_retry_at', '<=', slots.now)]))
              .where((w) =>
                w.exists(
                  w
                    .selectFrom('account_tokens as at')
                    .select('at.account_id')
                    .where('at.account_id', '=', slots.accountId),
                ),
              ),
          )
          .onConflict((conflict) => takeOverEndedLease(conflict, slots))
          .returning('generation'),
      )
      .selectFrom('accounts')
      .select((eb) => eb.selectFrom('taken').select('generation').as('taken_generation'))
      .$call(withTokensKeyAndLease)
      .where('accounts.id', '=', slots.accountId),
  );
}

const readsTakingLease = {
  forUse: readTakingLease(refreshableStatuses(false)),
  forHealthCheck: readTakingLease(refreshableStatuses(true)),
};

/** The account with its tokens, data key and refresh lease generation: the joins of every account read here. */
function withTokensKeyAndLease<DB extends Database, O>(query: SelectQueryBuilder<DB, 'accounts', O>) {
  // Typed on the service's tables only: a caller's CTEs (the lease take below) are selected before this is called.
  return (query as unknown as SelectQueryBuilder<Database, 'accounts', O>)
    .leftJoin('account_tokens as t', 't.account_id', 'accounts.id')
    .leftJoin('vault_data_keys as k', 'k.subject_id', 'accounts.id')
    .leftJoin('account_refresh_leases as l', 'l.account_id', 'accounts.id')
    .selectAll('accounts')
    .select(READ_COLUMNS);
}

const READ_COLUMNS = [
  't.account_id as token_account_id',
  't.access_token as token_access_token',
  't.refresh_token as token_refresh_token',
  't.updated_at as token_updated_at',
  'k.data_key_id as key_data_key_id',
  'k.wrapping_key_id as key_wrapping_key_id',
  'k.wrapped_key as key_wrapped_key',
  'l.generation as lease_generation',
] as const;

interface JoinedRead extends AccountRow {
  token_account_id: string | null;
  token_access_token: SealedSecret | null;
  token_refresh_token: SealedSecret | null;
  token_updated_at: number | null;
  key_data_key_id: string | null;
  key_wrapping_key_id: string | null;
  key_wrapped_key: string | null;
  lease_generation: number | null;
}

function toAccountRead(joined: JoinedRead | undefined): AccountRead {
  if (!joined) return { row: undefined, tokens: undefined, dataKey: undefined, leaseGeneration: undefined };
  const {
    token_account_id,
    token_access_token,
    token_refresh_token,
    token_updated_at,
    key_data_key_id,
    key_wrapping_key_id,
    key_wrapped_key,
    lease_generation,
    ...row
  } = joined;
  const tokens =
    token_account_id === null || token_refresh_token === null
      ? undefined
      : {
          account_id: token_account_id,
          access_token: token_access_token,
          refresh_token: token_refresh_token,
          updated_at: Number(token_updated_at),
        };
  const dataKey =
    key_data_key_id === null || key_wrapping_key_id === null || key_wrapped_key === null
      ? undefined
      : {
          subject_id: row.id,
          data_key_id: key_data_key_id,
          wrapping_key_id: key_wrapping_key_id,
          wrapped_key: key_wrapped_key,
        };
  return { row, tokens, dataKey, leaseGeneration: lease_generation === null ? undefined : Number(lease_generation) };
}
