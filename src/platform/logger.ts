import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogLevel } from '../config/config.js';

export type { Logger } from 'pino';

export const REDACTED = '[redacted]';

/**
 * Redaction in three layers, because a token that reaches a log file has leaked
 * (docs/engineering.md §L; docs/product.md §4):
 * 1. pino `redact` paths for the usual places (request/response headers), cheap and exact;
 * 2. `formatters.log`: a walk of the logged object that censors every key named like a secret at any depth
 *    (pino's paths cannot say "at any depth");
 * 3. `hooks.streamWrite`: a last pass over the finished JSON line, after serializers (fastify's `req` serializer
 *    logs the URL, `?code=…` included; the `err` serializer copies properties of errors), that censors
 *    secret-named JSON keys, `name=value` pairs of query strings and form bodies, and `Bearer`/`Basic` credentials.
 */
export function createLogger(
  config: { readonly logLevel: LogLevel },
  options: { destination?: DestinationStream; name?: string } = {},
): Logger {
  const pinoOptions = {
    name: options.name ?? 'mailbridge',
    level: config.logLevel,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    formatters: { log: (object: Record<string, unknown>) => scrubObject(object) },
    hooks: { streamWrite: redactLogLine },
  };
  return options.destination ? pino(pinoOptions, options.destination) : pino(pinoOptions);
}

const HEADER_NAMES = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'];
const REDACT_PATHS = [
  ...HEADER_NAMES.flatMap((name) => [
    `headers["${name}"]`,
    `req.headers["${name}"]`,
    `res.headers["${name}"]`,
    `request.headers["${name}"]`,
    `response.headers["${name}"]`,
  ]),
  'password',
  '*.password',
  'client_secret',
  '*.client_secret',
  'refresh_token',
  '*.refresh_token',
  'access_token',
  '*.access_token',
];

const EXACT_KEYS = new Set([
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'password',
  'passwd',
  'secret',
  'token',
  'apikey',
  'xapikey',
  'code',
  'codeverifier',
  'clientassertion',
  'assertion',
  'privatekey',
]);
const SUFFIXES = ['token', 'secret', 'password', 'apikey', 'verifier'];

/** Whether a property name (any case, `-`/`_`/space separated or camelCase) names a secret. */
export function isSensitiveKey(key: string): boolean {
  const normalized = key.toLowerCase().replace(/[-_\s.]/g, '');
  return EXACT_KEYS.has(normalized) || SUFFIXES.some((suffix) => normalized.endsWith(suffix));
}

// `code` is both the OAuth authorization code and the error code of nearly every error (AppError.code,
// Graph error.code, Node's ECONNRESET, AADSTS numbers): those are evidence to keep (docs/engineering.md §2).
// Error codes are short words or UPPER_SNAKE; authorization codes are long random strings with dots and digits.
const ERROR_CODE_LIKE = /^(?:[A-Za-z_]{1,40}|[A-Z0-9_]{1,40}|\d{1,10})$/;

function censorValue(key: string, value: unknown): boolean {
  if (value === null || value === undefined || typeof value === 'boolean') return false;
  if (key.toLowerCase() === 'code' && (typeof value === 'number' || typeof value === 'string')) {
    return !ERROR_CODE_LIKE.test(String(value));
  }
  return true;
}

/** A copy of `value` with every secret-named property censored. Errors stay errors (pino's err serializer). */
export function scrubObject<T>(value: T, depth = 0, seen = new WeakSet<object>()): T {
  if (value === null || typeof value !== 'object' || depth > 12) return value;
  if (value instanceof Error || Buffer.isBuffer(value) || value instanceof Date) return value;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value; // Secret, URL, KeyRing
  // Class instances (Fastify's request and reply, sockets) are left to their pino serializers, which read
  // prototype getters a plain copy would lose; the line pass below still censors whatever they print.
  const prototype = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && prototype !== Object.prototype && prototype !== null) return value;
  if (seen.has(value)) return value;
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => scrubObject(item, depth + 1, seen)) as T;
  const copy: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    copy[key] = isSensitiveKey(key) && censorValue(key, child) ? REDACTED : scrubObject(child, depth + 1, seen);
  }
  return copy as T;
}

const JSON_STRING_OR_NUMBER = String.raw`"(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*`;
const JSON_MEMBER = new RegExp(String.raw`"((?:[^"\\]|\\.){1,100})":(${JSON_STRING_OR_NUMBER})`, 'g');
// `state` is the OAuth CSRF value: single-use and short-lived, but a bearer of the flow until used.
const PAIR_NAMES = [
  'state',
  'access_token',
  'refresh_token',
  'id_token',
  'code',
  'client_secret',
  'client_assertion',
  'code_verifier',
  'password',
  'token',
  'api_key',
  'apikey',
  'secret',
];
const QUERY_PAIR = new RegExp(String.raw`(^|[?&\s;,'"(])(${PAIR_NAMES.join('|')})=([^&\s"'\\#;,)]+)`, 'gi');
// A JSON document inside a string value (a response body in a message): its quotes arrive escaped as \".
const ESCAPED_MEMBER = /\\"([A-Za-z0-9_.-]{1,64})\\":\s*\\"((?:[^"\\]|\\\\)*)\\"/g;
const HTTP_CREDENTIAL = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/gi;

/** The last pass over a finished log line (pino `hooks.streamWrite`). Exported for tests and other sinks. */
export function redactLogLine(line: string): string {
  return line
    .replace(JSON_MEMBER, (member, rawKey: string, rawValue: string) => {
      const key = safeJsonParse(`"${rawKey}"`);
      if (typeof key !== 'string' || !isSensitiveKey(key)) return member;
      if (!censorValue(key, safeJsonParse(rawValue))) return member;
      return `"${rawKey}":"${REDACTED}"`;
    })
    .replace(ESCAPED_MEMBER, (member, key: string, value: string) =>
      isSensitiveKey(key) && censorValue(key, value) ? `\\"${key}\\":\\"${REDACTED}\\"` : member,
    )
    .replace(QUERY_PAIR, (pair, lead: string, name: string, value: string) =>
      censorValue(name, decodeURIComponentSafe(value)) ? `${lead}${name}=${REDACTED}` : pair,
    )
    .replace(HTTP_CREDENTIAL, (_credential, scheme: string) => `${scheme} ${REDACTED}`);
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    // Malformed percent-encoding: keep the raw text, which is then judged (and censored) as it is.
    return text;
  }
}

function safeJsonParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Not valid JSON on its own (a truncated or odd token): treat as an opaque string, which gets censored.
    return text;
  }
}
