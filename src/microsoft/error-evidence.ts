import { type GraphDetail, graphDetailOf } from './graph-error-details.js';

/**
 * Everything structured that Microsoft told us about a failure, in one JSON-serialisable shape.
 *
 * Each layer that talks to Microsoft (token endpoint, authorize/admin-consent redirects, Graph, the network below
 * them) turns what it received into an `ErrorEvidence` with the parsers below, and keeps it: on the thrown error,
 * in the account's status, in a message's attempt log. Decisions (`classifyHealth`, `classifyConnectOutcome`,
 * `isRetryable`) read only the structured fields: `error`, `errorCodes`, `suberror`, `errorSubcode`, `httpStatus`,
 * `graphCode`, `innerErrorCode`, `graphDetail`, `networkCode`, `requestSent`. Microsoft warns never to branch on
 * `error_description` text (@see docs/entra.md §1.4); the one exception is `evidenceFromRedirectError`, which reads
 * the `AADSTSnnnn` number out of the description because redirects carry no `error_codes`; and a Graph message is
 * compared, exactly, with the recorded messages of `graph-error-details.ts` where a code alone is ambiguous.
 *
 * Evidence never holds a token, code, secret or password: the parsers copy named fields only, and the free-text
 * `description` is a capped copy for humans (support tickets, the dashboard), never a decision input.
 */

export type EvidenceSource = 'token_endpoint' | 'authorize_redirect' | 'admin_consent_redirect' | 'graph' | 'network';

/**
 * Whether the request may have reached Microsoft. `no`: it certainly did not (connection refused, DNS failure), so
 * repeating it cannot duplicate anything. `yes`: Microsoft answered. `unknown`: it may have been received and acted
 * on (timeout, connection reset after sending).
 */
export type RequestSent = 'no' | 'yes' | 'unknown';

export interface ErrorEvidence {
  source: EvidenceSource;
  /** HTTP status of Microsoft's answer; absent for redirects and network failures. */
  httpStatus?: number;
  /** OAuth `error` (`invalid_grant`, `access_denied`…); for Graph, the `error` of a `WWW-Authenticate` challenge. */
  error?: string;
  /** AADSTS numbers (`error_codes`, or parsed from a redirect's description / `error_uri`). Always an array. */
  errorCodes: number[];
  /** OAuth `suberror` (`bad_token`, `consent_required`, `basic_action`…). @see docs/entra.md §2 sub-errors */
  suberror?: string;
  /** Redirect-only `error_subcode` (`cancel` when the user backed out). @see docs/entra.md §1.3 */
  errorSubcode?: string;
  /** A claims challenge, as a JSON string (decoded from base64 when it came in `WWW-Authenticate`). */
  claims?: string;
  traceId?: string;
  correlationId?: string;
  /** Microsoft's timestamp (`YYYY-MM-DD HH:MM:SSZ` for AADSTS errors, ISO-like `innerError.date` for Graph). */
  timestamp?: string;
  /** Graph `error.code` (`TooManyRequests`, `MailboxNotEnabledForRESTAPI`…). @see docs/graph.md §3.2 */
  graphCode?: string;
  /** Graph `error.innerError.code` (e.g. `429`). */
  innerErrorCode?: string;
  /**
   * What a recorded (code, message) pair names where the code alone is ambiguous (`named_property_quota`,
   * `odata_disabled`, `mailbox_not_discovered`). Set by an exact match against `graph-error-details.ts`.
   */
  graphDetail?: GraphDetail;
  /** Graph `request-id` (header or `innerError`), or the token endpoint's `x-ms-request-id`. */
  requestId?: string;
  clientRequestId?: string;
  /** `Retry-After`, converted to milliseconds (Graph sends fractional seconds). */
  retryAfterMs?: number;
  /** The enhanced status code (`5.1.8`) of a non-delivery report found in the mailbox (src/bounces/). */
  ndrStatus?: string;
  /** `ECONNREFUSED`, `ECONNRESET`, `UND_ERR_SOCKET`, `TIMEOUT`, `ABORTED`… for `network` evidence. */
  networkCode?: string;
  requestSent: RequestSent;
  /** For humans only, capped, first line: never a decision input. */
  description?: string;
}

/** Headers as fetch gives them, or as a plain record (Fastify, recorded fixtures). */
export type HeadersLike = Headers | Record<string, string | string[] | undefined>;

/** Longest human-readable description we keep. Enough to recognise an error; not a place to store a body. */
export const DESCRIPTION_MAX_LENGTH = 240;

function headerOf(headers: HeadersLike | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value[0] : value;
}

function stringField(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A body as received: already-parsed JSON, a JSON string, or something else (an HTML error page from a proxy). */
function parseBody(body: unknown): Record<string, unknown> | undefined {
  if (isRecord(body)) return body;
  if (typeof body !== 'string' || body.trim() === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    return isRecord(parsed) ? parsed : undefined;
  } catch {
    // A non-JSON body (proxy or gateway page) is evidence of nothing but its status: safe to ignore.
    return undefined;
  }
}

/** Keeps the first line of a description (the AADSTS trailer repeats trace/correlation ids we store anyway). */
export function humanDescription(text: unknown): string | undefined {
  const value = stringField(text);
  if (value === undefined) return undefined;
  const firstLine = value.split(/\r?\n/, 1)[0]?.trim() ?? '';
  if (firstLine === '') return undefined;
  return firstLine.length > DESCRIPTION_MAX_LENGTH ? `${firstLine.slice(0, DESCRIPTION_MAX_LENGTH - 1)}…` : firstLine;
}

function errorCodesOf(value: unknown): number[] {
  if (!Array.isArray(value)) return [];
  const codes: number[] = [];
  for (const item of value) {
    const n = typeof item === 'number' ? item : typeof item === 'string' ? Number(item) : Number.NaN;
    if (Number.isInteger(n) && n > 0 && !codes.includes(n)) codes.push(n);
  }
  return codes;
}

/**
 * `Retry-After` in milliseconds: delta-seconds, possibly fractional (Graph: `2.128`), or an HTTP date measured
 * against the response's own `Date` header (without one, a date cannot be turned into a delay purely).
 * @see docs/graph.md §3.2
 */
export function parseRetryAfterMs(value: string | undefined, responseDate?: string): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  const now = responseDate === undefined ? Number.NaN : Date.parse(responseDate);
  if (Number.isNaN(at) || Number.isNaN(now)) return undefined;
  return Math.max(0, at - now);
}

function retryAfterOf(headers: HeadersLike | undefined): number | undefined {
  return parseRetryAfterMs(headerOf(headers, 'retry-after'), headerOf(headers, 'date'));
}

function withoutUndefined(evidence: ErrorEvidence): ErrorEvidence {
  for (const key of Object.keys(evidence) as (keyof ErrorEvidence)[]) {
    if (evidence[key] === undefined) delete evidence[key];
  }
  return evidence;
}

/**
 * Evidence from a token endpoint error answer (authorization_code or refresh_token grant). `body` may be the parsed
 * JSON or its text. Reads `error`, `error_codes`, `suberror`, `claims`, `trace_id`, `correlation_id`, `timestamp`;
 * not the description (kept for humans only). @see docs/entra.md §1.4
 */
export function evidenceFromTokenErrorResponse(status: number, body: unknown, headers?: HeadersLike): ErrorEvidence {
  const json = parseBody(body) ?? {};
  return withoutUndefined({
    source: 'token_endpoint',
    httpStatus: status,
    error: stringField(json.error),
    errorCodes: errorCodesOf(json.error_codes),
    suberror: stringField(json.suberror),
    claims: stringField(json.claims),
    traceId: stringField(json.trace_id),
    correlationId: stringField(json.correlation_id),
    timestamp: stringField(json.timestamp),
    requestId: headerOf(headers, 'x-ms-request-id'),
    clientRequestId: headerOf(headers, 'client-request-id'),
    retryAfterMs: retryAfterOf(headers),
    requestSent: 'yes',
    description: humanDescription(json.error_description),
  });
}

const AADSTS_IN_TEXT = /AADSTS(\d{4,9})/g;
const TRAILER_FIELD = (name: string) => new RegExp(`${name}:\\s*([^\\r\\n]+)`);

/**
 * Evidence from an error redirect back from `/authorize` or `/adminconsent` (query or form_post parameters).
 *
 * Redirects carry no `error_codes`, so the AADSTS number comes from `error_uri` (`…/error?code=nnnn`) or else from
 * the `AADSTSnnnn:` prefix of `error_description`. This is the ONE place the description is read for a decision
 * input; everywhere else it is kept for humans only. @see docs/entra.md §1.3, §1.7
 *
 * The source is `admin_consent_redirect` when the redirect carries `admin_consent` (or when `source` says so).
 * Call it only when `params.has('error')`; without an `error` the evidence classifies as `unknown`.
 */
export function evidenceFromRedirectError(
  params: URLSearchParams,
  source?: 'authorize_redirect' | 'admin_consent_redirect',
): ErrorEvidence {
  const description = params.get('error_description') ?? '';
  const codes: number[] = [];
  const fromUri = /[?&]code=(\d{4,9})/.exec(params.get('error_uri') ?? '')?.[1];
  if (fromUri !== undefined) codes.push(Number(fromUri));
  for (const match of description.matchAll(AADSTS_IN_TEXT)) {
    const n = Number(match[1]);
    if (!codes.includes(n)) codes.push(n);
  }
  // Trace/correlation/timestamp: parameters when present (MSAL parses them), else the description trailer.
  // These are identifiers for support tickets, not decision inputs.
  const trailer = (name: string) => TRAILER_FIELD(name).exec(description)?.[1]?.trim();
  return withoutUndefined({
    source: source ?? (params.has('admin_consent') ? 'admin_consent_redirect' : 'authorize_redirect'),
    error: stringField(params.get('error')),
    errorCodes: codes,
    suberror: stringField(params.get('suberror')),
    errorSubcode: stringField(params.get('error_subcode')),
    claims: stringField(params.get('claims')),
    traceId: stringField(params.get('trace_id')) ?? trailer('Trace ID'),
    correlationId: stringField(params.get('correlation_id')) ?? trailer('Correlation ID'),
    timestamp: stringField(params.get('timestamp')) ?? trailer('Timestamp'),
    requestSent: 'yes',
    description: humanDescription(description),
  });
}

/** Parses `Bearer realm="", error="insufficient_claims", claims="<base64>"` (a CAE claims challenge). */
function parseBearerChallenge(header: string | undefined): { error?: string; claims?: string } {
  if (header === undefined || !/^\s*bearer\b/i.test(header)) return {};
  const params: Record<string, string> = {};
  for (const match of header.matchAll(/([a-z_]+)\s*=\s*"([^"]*)"/gi)) {
    const [, key, value] = match;
    if (key !== undefined && value !== undefined) params[key.toLowerCase()] = value;
  }
  let claims = stringField(params.claims);
  if (claims !== undefined && !claims.trim().startsWith('{')) {
    const decoded = Buffer.from(claims, 'base64').toString('utf8');
    // Only accept the decoding when it is the JSON Microsoft promises; otherwise keep the raw value.
    if (decoded.trim().startsWith('{')) claims = decoded;
  }
  return { error: stringField(params.error), claims };
}

/**
 * Evidence from a Graph error answer: `{"error":{"code","message","innerError":{"code","date","request-id",
 * "client-request-id"}}}`, the `request-id` / `client-request-id` / `Retry-After` / `WWW-Authenticate` headers.
 * `body` may be the parsed JSON, its text, or empty. @see docs/graph.md §3.2, docs/entra.md §2 (claims challenge)
 */
export function evidenceFromGraphError(status: number, body: unknown, headers?: HeadersLike): ErrorEvidence {
  const json = parseBody(body);
  const error = isRecord(json?.error) ? json.error : {};
  const inner = isRecord(error.innerError) ? error.innerError : isRecord(error.innererror) ? error.innererror : {};
  const challenge = parseBearerChallenge(headerOf(headers, 'www-authenticate'));
  return withoutUndefined({
    source: 'graph',
    httpStatus: status,
    error: challenge.error,
    errorCodes: [],
    claims: challenge.claims,
    graphCode: stringField(error.code),
    innerErrorCode: stringField(inner.code),
    graphDetail: graphDetailOf(stringField(error.code), error.message),
    requestId: headerOf(headers, 'request-id') ?? stringField(inner['request-id']),
    clientRequestId: headerOf(headers, 'client-request-id') ?? stringField(inner['client-request-id']),
    timestamp: stringField(inner.date),
    retryAfterMs: retryAfterOf(headers),
    requestSent: 'yes',
    description: humanDescription(error.message),
  });
}

/**
 * Network codes that prove the request never left: nothing was connected, so nothing can have been received.
 * Everything else (reset, socket closed, timeouts while waiting for an answer) may have happened after Microsoft
 * received the request, so it is `unknown`.
 */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_INVALID_URL',
]);

/** Finds the most specific error code in an error, its `cause` chain and `AggregateError.errors`. */
function networkCodeOf(err: unknown, depth = 0): string | undefined {
  if (!isRecord(err) && !(err instanceof Error)) return undefined;
  if (depth > 6) return undefined;
  const record = err as Record<string, unknown>;
  const cause = record.cause;
  const deeper = cause === undefined ? undefined : networkCodeOf(cause, depth + 1);
  if (deeper !== undefined) return deeper;
  if (Array.isArray(record.errors)) {
    for (const inner of record.errors) {
      const code = networkCodeOf(inner, depth + 1);
      if (code !== undefined) return code;
    }
  }
  const name = stringField(record.name);
  if (name === 'TimeoutError') return 'TIMEOUT';
  if (name === 'AbortError') return 'ABORTED';
  return stringField(record.code);
}

/**
 * Evidence from a failure below HTTP: what `fetch` throws (`TypeError: fetch failed` with a `cause` carrying
 * `ECONNREFUSED`, `ECONNRESET`, `UND_ERR_SOCKET`…), or the `TimeoutError` of an `AbortSignal.timeout`.
 * `requestSent` is `no` only when the failure proves nothing was delivered. @see docs/engineering.md §9
 */
export function evidenceFromNetworkError(err: unknown): ErrorEvidence {
  const networkCode = networkCodeOf(err) ?? 'UNKNOWN';
  return withoutUndefined({
    source: 'network',
    errorCodes: [],
    networkCode,
    requestSent: NOT_SENT_CODES.has(networkCode) ? 'no' : 'unknown',
    // URLs are cut out: an upload session URL carries its own credential in the query string.
    description: humanDescription(
      err instanceof Error ? err.message.replace(/\b[a-z]+:\/\/\S+/gi, '<url>') : undefined,
    ),
  });
}
