import { join } from 'node:path';
import { AppError } from '../errors/app-error.js';
import type { ErrorTable } from '../errors/error-table.js';
import { MAKE_KEY_HINT } from '../vault/vault-error.js';
import type { Config, DatabaseConfig, MicrosoftConfig } from './config.js';
import { envSchema, KNOWN_VARIABLES } from './env-schema.js';

/** The configuration's codes (src/errors/error-table.ts). */
export const CONFIG_ERRORS = {
  CONFIG_INVALID: {
    status: 500,
    description: 'The environment has problems; the process stops with one message listing each and how to fix it.',
  },
} as const satisfies ErrorTable;

export type Env = Readonly<Record<string, string | undefined>>;

export interface ConfigProblem {
  /** The environment variable at fault (or several, joined with " + "). */
  readonly variable: string;
  /** What is wrong and how to fix it; never contains a secret value. */
  readonly message: string;
}

/**
 * Parses `process.env`-shaped input once into a frozen `Config`. Fails closed: any problem throws
 * `AppError('CONFIG_INVALID')` whose message lists every problem with its fix (details.problems has them too).
 * The only reader of `process.env` is the composition root, which passes it here.
 */
export function loadConfig(env: Env): Config {
  const problems: ConfigProblem[] = [];
  const parsed = envSchema.safeParse(pickKnown(env));
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push({ variable: String(issue.path[0] ?? '(environment)'), message: issue.message });
    }
  }
  problems.push(...crossVariableProblems(env));
  if (problems.length > 0 || !parsed.success) throw configInvalid(problems);

  const e = parsed.data;
  const microsoft: MicrosoftConfig =
    e.MICROSOFT_CLIENT_ID !== undefined && e.MICROSOFT_CLIENT_SECRET !== undefined
      ? {
          mode: 'microsoft',
          clientId: e.MICROSOFT_CLIENT_ID,
          clientSecret: e.MICROSOFT_CLIENT_SECRET,
          clientSecretExpiresAt: e.MICROSOFT_CLIENT_SECRET_EXPIRES_AT,
          tenant: e.MICROSOFT_TENANT,
          loginUrl: e.MICROSOFT_LOGIN_URL,
          graphUrl: e.MICROSOFT_GRAPH_URL,
        }
      : {
          mode: 'emulator',
          tenant: e.MICROSOFT_TENANT,
          loginUrl: e.MICROSOFT_LOGIN_URL,
          graphUrl: e.MICROSOFT_GRAPH_URL,
        };

  const publicUrl = e.PUBLIC_URL ?? `http://localhost:${e.PORT}`;

  const database: DatabaseConfig = e.DATABASE_URL ?? {
    dialect: 'sqlite',
    path: join(e.MAILBRIDGE_DATA_DIR, 'mailbridge.db'),
  };

  const config: Config = {
    port: e.PORT,
    publicUrl,
    dataDir: e.MAILBRIDGE_DATA_DIR,
    database,
    keyRing: e.MAILBRIDGE_KEYS,
    microsoft,
    admin: { email: e.MAILBRIDGE_ADMIN_EMAIL, password: e.MAILBRIDGE_ADMIN_PASSWORD },
    webhook:
      e.WEBHOOK_URL !== undefined && e.WEBHOOK_SECRET !== undefined
        ? { url: e.WEBHOOK_URL, secret: e.WEBHOOK_SECRET }
        : undefined,
    smtp: e.SMTP_URL !== undefined && e.SMTP_FROM !== undefined ? { ...e.SMTP_URL, from: e.SMTP_FROM } : undefined,
    outbox: {
      unknownOutcome: e.MAILBRIDGE_SEND_UNKNOWN_OUTCOME,
      heldMessageTtlMs: e.MAILBRIDGE_HELD_MESSAGE_TTL,
      mailboxConcurrency: e.MAILBRIDGE_MAILBOX_CONCURRENCY,
      messagesPerMinute: e.MAILBRIDGE_MAILBOX_MESSAGES_PER_MINUTE,
      recipientsPerDay: e.MAILBRIDGE_MAILBOX_RECIPIENTS_PER_DAY,
      personalRecipientsPerDay: e.MAILBRIDGE_PERSONAL_MAILBOX_RECIPIENTS_PER_DAY,
      maxRecipientsPerMessage: e.MAILBRIDGE_MAX_RECIPIENTS_PER_MESSAGE,
      leaseMs: e.MAILBRIDGE_OUTBOX_LEASE,
    },
    ops: {
      metricsToken: e.MAILBRIDGE_METRICS_TOKEN,
      opsPort: e.MAILBRIDGE_OPS_PORT,
      shutdownGraceMs: e.MAILBRIDGE_SHUTDOWN_GRACE,
    },
    logLevel: e.LOG_LEVEL,
    emulatorClockFile: e.MAILBRIDGE_EMULATOR_CLOCK_FILE,
    warnings: unknownVariableWarnings(env),
  };
  return deepFreeze(config);
}

/** Rules between variables; they look only at presence, so they run even when a value itself is invalid. */
function crossVariableProblems(env: Env): ConfigProblem[] {
  const set = (name: string): boolean => (env[name] ?? '').trim() !== '';
  const problems: ConfigProblem[] = [];
  if (set('MICROSOFT_CLIENT_ID') && !set('MICROSOFT_CLIENT_SECRET')) {
    problems.push({
      variable: 'MICROSOFT_CLIENT_SECRET',
      message:
        'is required when MICROSOFT_CLIENT_ID is set; create one in Entra admin center → App registrations → your ' +
        'app → Certificates & secrets (or unset MICROSOFT_CLIENT_ID to run the built-in emulator)',
    });
  }
  if (set('MICROSOFT_CLIENT_SECRET') && !set('MICROSOFT_CLIENT_ID')) {
    problems.push({
      variable: 'MICROSOFT_CLIENT_ID',
      message: 'is required when MICROSOFT_CLIENT_SECRET is set; copy the application (client) ID of your app',
    });
  }
  if (set('MICROSOFT_CLIENT_SECRET_EXPIRES_AT') && !set('MICROSOFT_CLIENT_ID')) {
    problems.push({
      variable: 'MICROSOFT_CLIENT_SECRET_EXPIRES_AT',
      message: 'only applies to a real Microsoft app; set MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET or unset it',
    });
  }
  if (set('MICROSOFT_CLIENT_ID') && !set('MAILBRIDGE_KEYS')) {
    // No silent dev key next to real users' tokens: docs/engineering.md §4 (fail closed).
    problems.push({
      variable: 'MAILBRIDGE_KEYS',
      message: `is required when a Microsoft app is configured (tokens of real users are stored). ${MAKE_KEY_HINT}`,
    });
  }
  const publicUrl = env['PUBLIC_URL']?.trim();
  if (set('MICROSOFT_CLIENT_ID') && publicUrl && URL.canParse(publicUrl) && !isLocalOrHttps(publicUrl)) {
    // Entra accepts http redirect URIs only for localhost. @see learn.microsoft.com/entra/identity-platform/reply-url
    problems.push({
      variable: 'PUBLIC_URL',
      message: 'uses http on a host other than localhost; Microsoft accepts only https redirect URIs there',
    });
  }
  if (set('MAILBRIDGE_ADMIN_PASSWORD') && !set('MAILBRIDGE_ADMIN_EMAIL')) {
    problems.push({
      variable: 'MAILBRIDGE_ADMIN_EMAIL',
      message: 'is required when MAILBRIDGE_ADMIN_PASSWORD is set (the first admin signs in with both)',
    });
  }
  if (set('WEBHOOK_URL') !== set('WEBHOOK_SECRET')) {
    problems.push({
      variable: 'WEBHOOK_URL + WEBHOOK_SECRET',
      message: 'set both or neither: webhooks are always signed (make a secret with `openssl rand -hex 32`)',
    });
  }
  if (set('MAILBRIDGE_EMULATOR_CLOCK_FILE') && !emulatorOnThisMachine(env)) {
    // A clock someone else moves is for simulations against an emulator, never next to real mailboxes: fail closed.
    problems.push({
      variable: 'MAILBRIDGE_EMULATOR_CLOCK_FILE',
      message:
        'is for simulations only: it needs MICROSOFT_CLIENT_ID with MICROSOFT_LOGIN_URL and MICROSOFT_GRAPH_URL both ' +
        'on this machine (an emulator at localhost or 127.0.0.1); unset it to run on the system clock',
    });
  }
  if (set('SMTP_URL') !== set('SMTP_FROM')) {
    problems.push({
      variable: 'SMTP_URL + SMTP_FROM',
      message: 'set both or neither: the default provider needs a relay and a sender address',
    });
  }
  return problems;
}

function pickKnown(env: Env): Record<string, string | undefined> {
  return Object.fromEntries(KNOWN_VARIABLES.map((name) => [name, env[name]]));
}

function unknownVariableWarnings(env: Env): string[] {
  return Object.keys(env)
    .filter((name) => name.startsWith('MAILBRIDGE_') && !KNOWN_VARIABLES.includes(name))
    .sort()
    .map((name) => {
      const near = KNOWN_VARIABLES.find((known) => known.startsWith(name) || name.startsWith(known));
      return `${name} is not a mailbridge setting${near ? ` (did you mean ${near}?)` : ''}; it is ignored`;
    });
}

/** Microsoft is an emulator this machine runs: an app configured, its sign-in and Graph URLs both on loopback. */
function emulatorOnThisMachine(env: Env): boolean {
  const loopback = (name: string) => {
    const value = env[name]?.trim();
    return value !== undefined && URL.canParse(value) && LOOPBACK_HOSTS.includes(new URL(value).hostname);
  };
  return (
    (env['MICROSOFT_CLIENT_ID'] ?? '').trim() !== '' &&
    loopback('MICROSOFT_LOGIN_URL') &&
    loopback('MICROSOFT_GRAPH_URL')
  );
}

const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

function isLocalOrHttps(url: string): boolean {
  const parsed = new URL(url);
  return parsed.protocol === 'https:' || LOOPBACK_HOSTS.includes(parsed.hostname);
}

function configInvalid(problems: ConfigProblem[]): AppError {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  const lines = problems.map((problem) => `  - ${problem.variable}: ${problem.message}`);
  return new AppError(
    'CONFIG_INVALID',
    `mailbridge cannot start: the configuration has ${count}:\n${lines.join('\n')}`,
    {
      details: { problems },
    },
  );
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
