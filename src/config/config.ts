import type { Secret } from '../platform/secret.js';
import type { KeyRing } from '../vault/key-ring.js';

/** The parsed, frozen configuration. Built once by `loadConfig()` in the composition root and passed down. */
export interface Config {
  readonly port: number;
  /** Where users and Microsoft reach this service, without a trailing slash (redirect URIs derive from it). */
  readonly publicUrl: string;
  readonly dataDir: string;
  readonly database: DatabaseConfig;
  /** MAILBRIDGE_KEYS, validated. Undefined only in emulator mode, where the dev key file is used instead. */
  readonly keyRing: KeyRing | undefined;
  readonly microsoft: MicrosoftConfig;
  readonly admin: AdminSeedConfig;
  readonly webhook: WebhookConfig | undefined;
  readonly smtp: SmtpConfig | undefined;
  readonly outbox: OutboxConfig;
  readonly ops: OpsConfig;
  readonly logLevel: LogLevel;
  /**
   * MAILBRIDGE_EMULATOR_CLOCK_FILE: the service's clock follows this file (src/platform/clock-file.ts), written by a
   * simulation that moves its emulator's clock. Accepted only when Microsoft is an emulator on this machine.
   */
  readonly emulatorClockFile: string | undefined;
  /** Not fatal, but worth a line in the log at start (e.g. an unknown MAILBRIDGE_* variable, likely a typo). */
  readonly warnings: readonly string[];
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export type DatabaseConfig =
  | { readonly dialect: 'sqlite' /** a file path, or `:memory:` */; readonly path: string }
  /** The URL may carry a password, hence a Secret. */
  | { readonly dialect: 'postgres'; readonly url: Secret };

interface MicrosoftCommon {
  /** `common`, `organizations`, `consumers`, a tenant GUID or a verified domain (lower-cased). */
  readonly tenant: string;
  /** Identity base URL without trailing slash, default `https://login.microsoftonline.com`. */
  readonly loginUrl: string;
  /** Graph base URL without trailing slash, default `https://graph.microsoft.com`. */
  readonly graphUrl: string;
}

export type MicrosoftConfig =
  /** No MICROSOFT_CLIENT_ID: the service runs the built-in emulator with its seeded demo app. */
  | (MicrosoftCommon & { readonly mode: 'emulator' })
  | (MicrosoftCommon & {
      readonly mode: 'microsoft';
      readonly clientId: string;
      readonly clientSecret: Secret;
      /** Epoch ms of MICROSOFT_CLIENT_SECRET_EXPIRES_AT, for the operator warning 30 and 7 days before. */
      readonly clientSecretExpiresAt: number | undefined;
    });

export interface AdminSeedConfig {
  readonly email: string | undefined;
  readonly password: Secret | undefined;
}

export interface WebhookConfig {
  readonly url: string;
  readonly secret: Secret;
}

export interface SmtpConfig {
  /** The whole SMTP_URL (it may carry the password). */
  readonly url: Secret;
  readonly host: string;
  readonly port: number;
  /** `smtps://`: TLS from the first byte; `smtp://`: STARTTLS when offered. */
  readonly secure: boolean;
  readonly user: string | undefined;
  readonly password: Secret | undefined;
  readonly from: string;
}

/** The outbox's settings (issue 4): delivery guarantee for unknown outcomes, held-message expiry, pacing. */
export interface OutboxConfig {
  /** MAILBRIDGE_SEND_UNKNOWN_OUTCOME: `fail` (at most once, default) or `retry` (at least once) for send-only accounts. */
  readonly unknownOutcome: 'fail' | 'retry';
  /** MAILBRIDGE_HELD_MESSAGE_TTL: how long a held message waits for its account before it fails (default 7 days). */
  readonly heldMessageTtlMs: number;
  /** Per mailbox, across all processes (docs/graph.md §3.3). */
  readonly mailboxConcurrency: number;
  readonly messagesPerMinute: number;
  readonly recipientsPerDay: number;
  /** Outlook.com (personal) mailboxes. */
  readonly personalRecipientsPerDay: number;
  readonly maxRecipientsPerMessage: number;
  /** MAILBRIDGE_OUTBOX_LEASE: a claim's lease without renewal; how soon a dead worker's messages are taken over. */
  readonly leaseMs: number;
}

/** The operational surface (issue 5): readiness and metrics endpoints, the ops listener, graceful shutdown. */
export interface OpsConfig {
  /**
   * MAILBRIDGE_METRICS_TOKEN: the Bearer token `/metrics` and `/readyz` require, on PORT and on the ops port. Unset:
   * PORT does not serve them at all (404), the ops port serves them to anyone who can reach it.
   */
  readonly metricsToken: Secret | undefined;
  /** MAILBRIDGE_OPS_PORT: a second listener with only /healthz, /readyz and /metrics (the worker role's only one). */
  readonly opsPort: number | undefined;
  /** MAILBRIDGE_SHUTDOWN_GRACE: how long SIGTERM waits for in-flight requests and the worker's tick (default 25 s). */
  readonly shutdownGraceMs: number;
}
