import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { WarmupAccountsTable } from '../db/tables/warmup.js';
import type { EventRecorder } from '../events/event-recorder.js';
import {
  nextSafetyState,
  remediationFor,
  type SafetyOutcome,
  type SafetySignal,
  type SafetyState,
} from './warmup-safety.js';
import {
  WARMUP_PROVIDERS,
  type WarmupProvider,
  type WarmupSettings,
  type WarmupUserOptions,
  warmupSettingsOrThrow,
} from './warmup-settings.js';

/**
 * The safety state of docs/warmup.md §G as stored in `warmup_accounts`, and the one way it changes: through the
 * core's state machine (`nextSafetyState`), written with its events in the caller's transaction, so a pause, a
 * quarantine or a resume exists exactly when its `warmup.*` event (and webhook) does.
 */

export function providerOf(row: Pick<WarmupAccountsTable, 'provider'>): WarmupProvider {
  return (WARMUP_PROVIDERS as readonly string[]).includes(row.provider)
    ? (row.provider as WarmupProvider)
    : 'microsoft365';
}

/**
 * Resolved settings by provider and stored options: most mailboxes share a few option strings, and a day's plan
 * reads a window of 200 members' settings (warmup-planning.ts), so resolving (two schema parses) once per distinct
 * string saves most of a plan's CPU. The values are deep-frozen, so sharing them is safe; the map is bounded.
 */
const resolvedSettings = new Map<string, WarmupSettings>();
const RESOLVED_SETTINGS_MAX = 1_000;

/** The resolved settings of a stored row (its options were validated when written). */
export function settingsOf(row: Pick<WarmupAccountsTable, 'provider' | 'settings'>): WarmupSettings {
  const provider = providerOf(row);
  const key = `${provider}\u0000${row.settings}`;
  const known = resolvedSettings.get(key);
  if (known) return known;
  const settings = warmupSettingsOrThrow(provider, JSON.parse(row.settings) as WarmupUserOptions);
  if (resolvedSettings.size >= RESOLVED_SETTINGS_MAX) resolvedSettings.clear();
  resolvedSettings.set(key, settings);
  return settings;
}

/** The stored state as the core's `SafetyState`. */
export function safetyStateOf(
  row: Pick<WarmupAccountsTable, 'state' | 'state_since' | 'state_until' | 'state_reason'>,
): SafetyState {
  const since = Number(row.state_since);
  const until = row.state_until === null ? null : Number(row.state_until);
  switch (row.state) {
    case 'watch':
      return { status: 'watch', since, reason: 'spam_placement' };
    case 'throttled':
      return { status: 'throttled', since, reason: 'sender_bounces' };
    case 'probation':
      return { status: 'probation', since, until: until ?? since };
    case 'quarantined':
      return {
        status: 'quarantined',
        since,
        until: until ?? since,
        reason: row.state_reason === 'sender_bounces' ? 'sender_bounces' : 'spam_placement',
      };
    case 'blocked':
      return { status: 'blocked', since, until: until ?? since, reason: 'spam_placement' };
    case 'paused':
      return {
        status: 'paused',
        since,
        until,
        reason:
          (['restricted_sender', 'grant_revoked', 'throttling_storms'] as const).find((r) => r === row.state_reason) ??
          'user',
      };
    default:
      return { status: 'active', since };
  }
}

/** The columns that store a state, its reason and the remediation shown with it. */
export function stateColumns(
  state: SafetyState,
  settings: WarmupSettings,
): Pick<WarmupAccountsTable, 'state' | 'state_since' | 'state_until' | 'state_reason' | 'remediation'> {
  const reason = 'reason' in state ? state.reason : null;
  const stopped = state.status === 'paused' || state.status === 'quarantined' || state.status === 'blocked';
  return {
    state: state.status,
    state_since: state.since,
    state_until: 'until' in state ? state.until : null,
    state_reason: reason,
    remediation: stopped && reason !== null ? remediationFor(reason, settings) : null,
  };
}

const STOPPED = new Set(['paused', 'quarantined', 'blocked']);

/** The event a state change reports, if any (a stop always has one: never silent). */
function eventOf(
  before: SafetyState,
  outcome: SafetyOutcome,
  settings: WarmupSettings,
): { type: 'warmup.paused' | 'warmup.quarantined' | 'warmup.resumed'; data: Record<string, unknown> } | null {
  if (!outcome.changed) return null;
  const after = outcome.state;
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  if (after.status === 'paused') {
    return {
      type: 'warmup.paused',
      data: {
        state: 'paused',
        reason: after.reason,
        until: iso(after.until),
        remediation: remediationFor(after.reason, settings),
      },
    };
  }
  if (after.status === 'quarantined' || after.status === 'blocked') {
    return {
      type: 'warmup.quarantined',
      data: {
        state: after.status,
        reason: after.reason,
        until: iso(after.until),
        remediation: remediationFor(after.reason, settings),
      },
    };
  }
  if (STOPPED.has(before.status)) {
    return {
      type: 'warmup.resumed',
      data: { state: after.status, previousState: before.status, until: iso('until' in after ? after.until : null) },
    };
  }
  return null;
}

export interface StateChangeDeps {
  events: EventRecorder;
}

/**
 * Applies `signal` to the stored state of `row` inside `trx`: the new state, its reason and remediation, and the
 * `warmup.paused` / `warmup.quarantined` / `warmup.resumed` event of the change. Returns the core's outcome (the
 * caller acts on `removePartner` and `resumedAfterDays`).
 */
export async function applySafetySignal(
  trx: Kysely<Database>,
  deps: StateChangeDeps,
  row: WarmupAccountsTable,
  signal: SafetySignal,
  owner: { ownerExternalId: string | null },
): Promise<SafetyOutcome> {
  const settings = settingsOf(row);
  const before = safetyStateOf(row);
  const outcome = nextSafetyState(before, signal, settings);
  if (!outcome.changed) return outcome;
  const columns = stateColumns(outcome.state, settings);
  await trx
    .updateTable('warmup_accounts')
    .set({
      ...columns,
      ...(outcome.state.status === 'paused' ? { paused_at: signal.at } : {}),
      updated_at: signal.at,
    })
    .where('account_id', '=', row.account_id)
    .execute();
  Object.assign(row, columns);
  const event = eventOf(before, outcome, settings);
  if (event) {
    await deps.events.record(trx, {
      organizationId: row.organization_id,
      type: event.type,
      accountId: row.account_id,
      ownerExternalId: owner.ownerExternalId,
      data: { accountId: row.account_id, ...event.data },
    });
  }
  return outcome;
}
