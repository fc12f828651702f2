import type { EmulatorClock } from './clock.js';
import { defaultReputationSettings, type ReputationSettings } from './graph/reputation.js';
import type { GraphRuntime } from './graph/runtime.js';
import type { EmulatorRandom } from './random.js';
import type { RecordedErrorName } from './recorded-errors.js';
import type { WorldState } from './state/model.js';

/** Limits Microsoft enforces on a mailbox's sending. @see docs/graph.md §3.3 */
export interface SendingLimits {
  messagesPerMinute: number;
  recipientsPer24h: number;
  recipientsPerMessage: number;
}

export interface EmulatorLimits {
  /** Outlook per app + mailbox: 10,000 requests per 10 minutes. */
  requestsPer10Minutes: number;
  /** Outlook per app + mailbox: 4 concurrent requests. */
  concurrentRequestsPerMailbox: number;
  /** Exchange Online (work accounts). */
  exchange: SendingLimits;
  /** Outlook.com (personal accounts): lower daily cap. */
  outlook: SendingLimits;
  /** The largest JSON request Graph accepts for inline sends (about 4 MB, [GUESS] docs/graph.md §3.1). */
  maxRequestBytes: number;
  /**
   * Opt-in fault: answer sends over the per-minute or 24-hour limits with errors (429 `ErrorSubmissionQuotaExceeded`,
   * 403 `ErrorExceededMessageLimit`) instead of what Microsoft does (delay; a 5.1.90 non-delivery report).
   */
  rejectOverLimitSends: boolean;
}

/**
 * How the emulated mail transport files mail. The junk filter is a model, not Microsoft's: a sender's junk
 * probability is `junkBase × (1 − reputation)`, decided per (internetMessageId, recipient) from the seed.
 */
export interface DeliverySettings {
  junkBase: number;
  /** Mail between two users of the same organisation skips the junk filter (EOP does not spam-filter intra-org mail). */
  internalBypassesJunk: boolean;
  /**
   * Reputation gained by the sender per engaged message, applied as `r += gain × (1 − r)` (bounded by 1). `read`
   * is absent in snapshots saved before it existed (then 0).
   */
  reputationGain: { reply: number; rescue: number; flag: number; important: number; read?: number };
  /**
   * Custom `x-` headers may be stripped in transit (docs/graph.md §3.1 [OBS]): to nobody, to personal accounts, to
   * all.
   */
  stripCustomHeaders: 'none' | 'personal' | 'all';
  /** The reputation model's parameters (graph/reputation.ts); absent in snapshots older than the model. */
  reputation?: ReputationSettings;
}

/** Delta queries (graph/delta-routes.ts). */
export interface DeltaSettings {
  /** Change-log entries kept per mailbox; delta tokens older than the oldest kept answer 410 SyncStateNotFound. */
  changeLogLimit: number;
  /** Page size without `Prefer: odata.maxpagesize` or `$top` (10, [OBS] see emulator/README.md). */
  defaultPageSize: number;
}

export interface EmulatorSettings {
  accessTokenLifetimeSeconds: { min: number; max: number };
  /** Sliding inactivity window of refresh tokens: 90 days. */
  refreshTokenInactivitySeconds: number;
  /** Authorization codes live about 10 minutes. */
  authorizationCodeLifetimeSeconds: number;
  idTokenLifetimeSeconds: number;
  limits: EmulatorLimits;
  /** Cap on the request log kept for inspection (oldest entries dropped first). */
  requestLogLimit: number;
  delivery: DeliverySettings;
  delta: DeltaSettings;
}

export const defaultSettings: EmulatorSettings = {
  accessTokenLifetimeSeconds: { min: 3600, max: 5400 },
  refreshTokenInactivitySeconds: 90 * 24 * 3600,
  authorizationCodeLifetimeSeconds: 600,
  idTokenLifetimeSeconds: 3600,
  limits: {
    requestsPer10Minutes: 10_000,
    concurrentRequestsPerMailbox: 4,
    exchange: { messagesPerMinute: 30, recipientsPer24h: 10_000, recipientsPerMessage: 500 },
    outlook: { messagesPerMinute: 30, recipientsPer24h: 5_000, recipientsPerMessage: 500 },
    maxRequestBytes: 4 * 1024 * 1024,
    rejectOverLimitSends: false,
  },
  requestLogLimit: 50_000,
  delivery: {
    junkBase: 0.6,
    internalBypassesJunk: true,
    reputationGain: { reply: 0.06, rescue: 0.08, flag: 0.02, important: 0.02, read: 0.02 },
    stripCustomHeaders: 'none',
    reputation: defaultReputationSettings,
  },
  delta: { changeLogLimit: 10_000, defaultPageSize: 10 },
};

/**
 * Where clients reach the emulator. By default both are the emulator's own origin; a test may make the
 * emulator impersonate `https://login.microsoftonline.com` / `https://graph.microsoft.com` (issuers, links and
 * upload URLs then name those hosts, and the client routes them back here).
 */
export interface EmulatorUrls {
  /** Identity origin, no trailing slash: issuers are `${login}/${tid}/v2.0`. */
  login: string;
  /** Graph origin, no trailing slash: resources are `${graph}/v1.0/…`. */
  graph: string;
  /** Outlook REST origin, no trailing slash, where upload sessions' `uploadUrl` lives (Microsoft's: outlook.office.com). */
  outlook: string;
}

export interface RequestLogEntry {
  seq: number;
  at: number;
  method: string;
  /** Path and query with secrets (code, tokens, secrets, passwords) removed. */
  path: string;
  status: number;
  durationMs: number;
  clientId: string | null;
  userId: string | null;
  /** Set when the answer was an injected fault or a throttle, naming which. */
  note: string | null;
}

/**
 * An injected misbehaviour, the way Microsoft misbehaves. Matching requests (by mailbox and target) are
 * affected with `probability` (seeded), `remaining` times (null: until removed).
 */
export interface FaultRule {
  id: string;
  /** The mailbox owner's user id, or null for every mailbox. */
  userId: string | null;
  /**
   * `graph`: every Graph request; `send`: sendMail, draft send and reply; `token`: the token endpoint; `authorize` /
   * `adminconsent`: the redirect back to the app once the user signed in (`recorded` identity errors only).
   */
  target: 'graph' | 'send' | 'token' | 'authorize' | 'adminconsent';
  /**
   * `throttle429`: 429 with Retry-After and a TooManyRequests body; `unavailable503`: 503 with Retry-After;
   * `latency`: answer late by `latencyMs`; `drop`: destroy the connection without an answer, doing nothing;
   * `timeoutAfterAccept`: do the work (the send happens) but never answer and drop the connection; `recorded`: answer
   * with the error response Microsoft was recorded sending (`recorded`, recorded-errors.ts); `requestLoop` (token
   * endpoint only): HTTP 400 AADSTS50196, how Microsoft throttles token requests.
   */
  kind: 'throttle429' | 'unavailable503' | 'latency' | 'drop' | 'timeoutAfterAccept' | 'recorded' | 'requestLoop';
  /** For `recorded`: which recorded response (a key of RECORDED_ERRORS); null otherwise. */
  recorded?: RecordedErrorName | null;
  retryAfterSeconds: number | null;
  latencyMs: number | null;
  remaining: number | null;
  probability: number;
}

/** What the emulator has seen of one app + mailbox pair, for its limits and for inspection. */
export interface MailboxUsage {
  clientId: string;
  userId: string;
  inFlight: number;
  maxInFlight: number;
  /** Request start times inside the current 10-minute window (emulator clock). */
  recentRequests: number[];
  /** Accepted sends inside the last 24 hours: when, and how many recipients. */
  recentSends: Array<{ at: number; recipients: number }>;
  /** How often each limit was reached for this pair: a 429 (or sending-limit error), a held send, a 5.1.90 report. */
  throttled: { concurrency: number; requestRate: number; messagesPerMinute: number; recipientsPer24h: number };
}

/** Everything a route handler needs. One per emulator instance; no module-level state anywhere. */
export interface EmulatorContext {
  world: WorldState;
  clock: EmulatorClock;
  random: EmulatorRandom;
  settings: EmulatorSettings;
  urls: EmulatorUrls;
  requestLog: RequestLogEntry[];
  nextRequestSeq: number;
  faults: FaultRule[];
  /** Keyed `${clientId}|${userId}`. */
  usage: Record<string, MailboxUsage>;
  /** Where `POST /_emulator/snapshot` saves (and `emulator/main.ts` loads from); unset: snapshots disabled. */
  snapshotFile?: string | null;
  /**
   * Called after anything that may have changed the state: each answered (or dropped) request and each SMTP
   * submission. `snapshot-autosave.ts` listens here; unset: nobody does.
   */
  onStateChange?: (() => void) | undefined;
  /** Graph's in-memory helpers (indexes, open upload sessions), created on first use; never part of a snapshot. */
  graph?: GraphRuntime;
}
