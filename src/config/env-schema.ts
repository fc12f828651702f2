import { z } from 'zod';
import { parseIsoDateTime } from '../platform/iso-date-time.js';
import { Secret } from '../platform/secret.js';
import { type KeyRing, parseKeyRing } from '../vault/key-ring.js';
import { MAKE_KEY_HINT } from '../vault/vault-error.js';
import type { DatabaseConfig, LogLevel } from './config.js';
import { isWebhookSecretLongEnough, WEBHOOK_SECRET_TOO_SHORT_MESSAGE } from './webhook-secret-rule.js';

/**
 * One zod field per environment variable. Each field either yields its typed value (or undefined when unset) or
 * reports one problem that says what is wrong and how to fix it. Values of secret variables never appear in a
 * message. Cross-variable rules (client id without secret…) live in `loadConfig`.
 */

type Ctx = z.RefinementCtx;

function fail(ctx: Ctx, message: string): never {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER as never;
}

/** Unset, empty and whitespace-only all mean "not set"; other values are trimmed. */
const text = z
  .string()
  .optional()
  .transform((value) => {
    const trimmed = value?.trim();
    return trimmed === undefined || trimmed === '' ? undefined : trimmed;
  });

/** Like `text` but keeps the value as given (a password may start or end with a space). */
const rawText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value));

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/i;
const EMAIL = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function httpUrl(name: string, value: string, ctx: Ctx, example: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail(ctx, `is not a URL; set ${name} to an http(s) URL such as ${example}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return fail(ctx, `must use http or https (got ${url.protocol}); for example ${example}`);
  }
  if (url.search !== '' || url.hash !== '')
    return fail(ctx, `must not have a query or fragment; for example ${example}`);
  if (url.username !== '' || url.password !== '') return fail(ctx, 'must not contain credentials');
  return url.href.replace(/\/+$/, '');
}

/** A TCP port; unset: `fallback` (undefined: the listener is off). */
function port<F extends number | undefined>(name: string, fallback: F) {
  return text.transform((value, ctx): number | F => {
    if (value === undefined) return fallback;
    const number = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
    if (!(number >= 0 && number <= 65535)) {
      const unset = fallback === undefined ? ', or unset it' : ` (default ${fallback})`;
      return fail(ctx, `"${value}" is not a port; set ${name} to an integer from 0 to 65535${unset}`);
    }
    return number;
  });
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;
const DURATION_UNITS = { ms: 1, s: SECOND, m: MINUTE, h: 60 * MINUTE, d: DAY } as const;
type DurationUnit = keyof typeof DURATION_UNITS;

/** A duration in milliseconds, written as a number and one of `units` (`90s`, `2m`; a bare number is seconds). */
function duration(options: {
  fallback: number;
  units: readonly DurationUnit[];
  min: number;
  max: number;
  /** The accepted range in words, for the error. */
  range: string;
  examples: string;
}) {
  const pattern = new RegExp(`^(\\d+)\\s*(${options.units.join('|')})?$`, 'i');
  return text.transform((value, ctx) => {
    if (value === undefined) return options.fallback;
    const match = pattern.exec(value);
    const unit = DURATION_UNITS[(match?.[2] ?? 's').toLowerCase() as DurationUnit];
    const ms = match ? Number(match[1]) * unit : Number.NaN;
    if (!(ms >= options.min && ms <= options.max)) {
      return fail(ctx, `"${value}" is not a duration from ${options.range}; use e.g. ${options.examples}`);
    }
    return ms;
  });
}

/** A positive integer setting with a default and a ceiling. */
function positiveInt(name: string, fallback: number, max: number) {
  return text.transform((value, ctx) => {
    if (value === undefined) return fallback;
    const number = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!(number >= 1 && number <= max)) {
      return fail(ctx, `"${value}" is not an integer from 1 to ${max}; unset ${name} for the default (${fallback})`);
    }
    return number;
  });
}

export const envSchema = z.object({
  PORT: port('PORT', 3000),
  PUBLIC_URL: text.transform((value, ctx) =>
    value === undefined ? undefined : httpUrl('PUBLIC_URL', value, ctx, 'https://mail.example.com'),
  ),
  MAILBRIDGE_DATA_DIR: text.transform((value) => value ?? './data'),
  DATABASE_URL: rawText.transform((value, ctx): DatabaseConfig | undefined => {
    if (value === undefined) return undefined;
    const trimmed = value.trim();
    if (/^postgres(?:ql)?:\/\//i.test(trimmed)) {
      try {
        const url = new URL(trimmed);
        if (url.hostname === '' && !url.searchParams.has('host')) throw new Error('no host');
      } catch {
        return fail(ctx, 'is not a valid PostgreSQL URL; use postgres://user:password@host:5432/database');
      }
      return { dialect: 'postgres', url: new Secret(trimmed) };
    }
    if (/^sqlite:/i.test(trimmed)) {
      // sqlite:./data/x.db, sqlite:/abs/x.db, sqlite:///abs/x.db, sqlite://./rel.db, sqlite::memory:
      const path = trimmed.slice('sqlite:'.length).replace(/^\/\/(?=[./])/, '');
      if (path === '') return fail(ctx, 'names no file; use sqlite:<path>, e.g. sqlite:./data/mailbridge.db');
      return { dialect: 'sqlite', path };
    }
    // The value may hold a password: do not repeat it.
    return fail(
      ctx,
      'must start with postgres://, postgresql:// or sqlite: (e.g. sqlite:./data/mailbridge.db); ' +
        'unset it to use SQLite in MAILBRIDGE_DATA_DIR',
    );
  }),
  MAILBRIDGE_KEYS: rawText.transform((value, ctx): KeyRing | undefined => {
    if (value === undefined) return undefined;
    const parsed = parseKeyRing(value);
    if (!parsed.ok) return fail(ctx, `${parsed.problems.join('; ')}. ${MAKE_KEY_HINT}`);
    return parsed.keyRing;
  }),
  MICROSOFT_CLIENT_ID: text.transform((value, ctx) => {
    if (value === undefined) return undefined;
    if (!GUID.test(value)) {
      return fail(
        ctx,
        `"${value}" is not an application (client) ID; copy the GUID from Entra admin center → App registrations → ` +
          'your app → Overview',
      );
    }
    return value.toLowerCase();
  }),
  MICROSOFT_CLIENT_SECRET: rawText.transform((value) => (value === undefined ? undefined : new Secret(value.trim()))),
  MICROSOFT_TENANT: text.transform((value, ctx) => {
    if (value === undefined) return 'common';
    const tenant = value.toLowerCase();
    if (['common', 'organizations', 'consumers'].includes(tenant) || GUID.test(tenant) || DOMAIN.test(tenant)) {
      return tenant;
    }
    return fail(
      ctx,
      `"${value}" is not a tenant; use common (default), organizations, consumers, a tenant ID (GUID) or a ` +
        'domain such as contoso.onmicrosoft.com',
    );
  }),
  MICROSOFT_CLIENT_SECRET_EXPIRES_AT: text.transform((value, ctx) => {
    if (value === undefined) return undefined;
    const parsed = parseIsoDateTime(value, { timeRequired: false });
    if (!parsed.ok && parsed.kind === 'shape') {
      return fail(
        ctx,
        `"${value}" is not an ISO date; use the "Expires" date of the client secret, e.g. 2027-03-31 or ` +
          '2027-03-31T12:00:00Z',
      );
    }
    if (!parsed.ok) return fail(ctx, `"${value}" is not a real date: ${parsed.why}`);
    return parsed.time;
  }),
  MICROSOFT_LOGIN_URL: text.transform((value, ctx) =>
    httpUrl(
      'MICROSOFT_LOGIN_URL',
      value ?? 'https://login.microsoftonline.com',
      ctx,
      'https://login.microsoftonline.com',
    ),
  ),
  MICROSOFT_GRAPH_URL: text.transform((value, ctx) =>
    httpUrl('MICROSOFT_GRAPH_URL', value ?? 'https://graph.microsoft.com', ctx, 'https://graph.microsoft.com'),
  ),
  MAILBRIDGE_ADMIN_EMAIL: text.transform((value, ctx) => {
    if (value === undefined) return undefined;
    if (!EMAIL.test(value)) return fail(ctx, `"${value}" is not an email address`);
    return value.toLowerCase();
  }),
  MAILBRIDGE_ADMIN_PASSWORD: rawText.transform((value, ctx) => {
    if (value === undefined) return undefined;
    if ([...value].length < 12) {
      return fail(ctx, 'is shorter than 12 characters; choose a longer one, or unset it to have one generated');
    }
    return new Secret(value);
  }),
  WEBHOOK_URL: text.transform((value, ctx) =>
    value === undefined ? undefined : httpUrl('WEBHOOK_URL', value, ctx, 'https://app.example.com/hooks/mailbridge'),
  ),
  WEBHOOK_SECRET: rawText.transform((value, ctx) => {
    if (value === undefined) return undefined;
    if (!isWebhookSecretLongEnough(value)) return fail(ctx, WEBHOOK_SECRET_TOO_SHORT_MESSAGE);
    return new Secret(value.trim());
  }),
  SMTP_URL: rawText.transform((value, ctx) => {
    if (value === undefined) return undefined;
    const trimmed = value.trim();
    let url: URL;
    try {
      url = new URL(trimmed);
    } catch {
      return fail(ctx, 'is not a URL; use smtp://user:password@host:587 or smtps://user:password@host:465');
    }
    if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
      return fail(ctx, 'must start with smtp:// or smtps://, e.g. smtp://user:password@host:587');
    }
    if (url.hostname === '') return fail(ctx, 'names no host; use smtp://user:password@host:587');
    const secure = url.protocol === 'smtps:';
    return {
      url: new Secret(trimmed),
      host: url.hostname,
      port: url.port === '' ? (secure ? 465 : 587) : Number(url.port),
      secure,
      user: url.username === '' ? undefined : decodeURIComponent(url.username),
      password: url.password === '' ? undefined : new Secret(decodeURIComponent(url.password)),
    };
  }),
  SMTP_FROM: text.transform((value, ctx) => {
    if (value === undefined) return undefined;
    const address = /<([^<>]+)>\s*$/.exec(value)?.[1] ?? value;
    if (!EMAIL.test(address)) {
      return fail(ctx, `"${value}" is not a sender; use an address or "Name <address@example.com>"`);
    }
    return value;
  }),
  // The outbox (issue 4): what a send whose outcome is unknown becomes, how long held messages wait, and the
  // per-mailbox pacing under Microsoft's limits (docs/graph.md §3.3; defaults are Microsoft's).
  MAILBRIDGE_SEND_UNKNOWN_OUTCOME: text.transform((value, ctx): 'fail' | 'retry' => {
    if (value === undefined) return 'fail';
    const mode = value.toLowerCase();
    if (mode === 'fail' || mode === 'retry') return mode;
    return fail(
      ctx,
      `"${value}" is not a mode; use fail (default: at most once, the message ends outcome_unknown) or retry (at least once)`,
    );
  }),
  MAILBRIDGE_HELD_MESSAGE_TTL: duration({
    fallback: 7 * DAY,
    units: ['s', 'm', 'h', 'd'],
    min: MINUTE,
    max: 365 * DAY,
    range: '1 minute to 365 days',
    examples: '7d (default), 36h or 90m',
  }),
  MAILBRIDGE_MAILBOX_CONCURRENCY: positiveInt('MAILBRIDGE_MAILBOX_CONCURRENCY', 4, 100),
  MAILBRIDGE_MAILBOX_MESSAGES_PER_MINUTE: positiveInt('MAILBRIDGE_MAILBOX_MESSAGES_PER_MINUTE', 30, 100_000),
  MAILBRIDGE_MAILBOX_RECIPIENTS_PER_DAY: positiveInt('MAILBRIDGE_MAILBOX_RECIPIENTS_PER_DAY', 10_000, 100_000_000),
  MAILBRIDGE_PERSONAL_MAILBOX_RECIPIENTS_PER_DAY: positiveInt(
    'MAILBRIDGE_PERSONAL_MAILBOX_RECIPIENTS_PER_DAY',
    5_000,
    100_000_000,
  ),
  MAILBRIDGE_MAX_RECIPIENTS_PER_MESSAGE: positiveInt('MAILBRIDGE_MAX_RECIPIENTS_PER_MESSAGE', 500, 1_000),
  // How long a claimed message stays with its worker without a renewal (renewed before every request), i.e. how soon
  // another worker takes over the messages of one that died. Longer than a Graph request's 30 s timeout.
  MAILBRIDGE_OUTBOX_LEASE: duration({
    fallback: 2 * MINUTE,
    units: ['s', 'm'],
    min: 45 * SECOND,
    max: 30 * MINUTE,
    range: '45 seconds to 30 minutes',
    examples: '2m (default) or 60s',
  }),
  // The operational surface (issue 5): who may read /metrics and /readyz, the ops listener, the shutdown grace.
  MAILBRIDGE_METRICS_TOKEN: rawText.transform((value, ctx) => {
    if (value === undefined) return undefined;
    if (value.trim().length < 24) {
      return fail(ctx, 'is shorter than 24 characters; make one with `openssl rand -hex 32`');
    }
    return new Secret(value.trim());
  }),
  MAILBRIDGE_OPS_PORT: port('MAILBRIDGE_OPS_PORT', undefined),
  MAILBRIDGE_SHUTDOWN_GRACE: duration({
    fallback: 25 * SECOND,
    units: ['ms', 's', 'm'],
    min: 0,
    max: 10 * MINUTE,
    range: '0 to 10 minutes',
    examples: '25s (default), 500ms or 2m',
  }),
  // A simulation's clock (src/platform/clock-file.ts): only with an emulator on this machine as Microsoft (loadConfig).
  MAILBRIDGE_EMULATOR_CLOCK_FILE: text,
  LOG_LEVEL: text.transform((value, ctx): LogLevel => {
    if (value === undefined) return 'info';
    const level = LOG_LEVELS.find((candidate) => candidate === value.toLowerCase());
    if (!level) return fail(ctx, `"${value}" is not a log level; use one of ${LOG_LEVELS.join(', ')} (default info)`);
    return level;
  }),
});

/** The variables mailbridge reads; an unknown MAILBRIDGE_* variable is probably a typo of one of these. */
export const KNOWN_VARIABLES: readonly string[] = Object.keys(envSchema.shape);
