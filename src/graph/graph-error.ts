import { AppError } from '../errors/app-error.js';
import type { ErrorTable } from '../errors/error-table.js';
import type { ErrorEvidence } from '../microsoft/error-evidence.js';

/**
 * Codes of `GraphError`, finest first. Callers branch on `evidence` (through `classifyHealth` / `isRetryable`),
 * not on these; the codes make logs and API answers readable.
 */
export const GRAPH_ERROR_CODES = {
  /** 429: throttled; `evidence.retryAfterMs` says how long to wait. */
  THROTTLED: 'GRAPH_THROTTLED',
  /** 401: the access token was refused. */
  UNAUTHORIZED: 'GRAPH_UNAUTHORIZED',
  /** 403: missing permission, send-as denied, blocked sender… */
  FORBIDDEN: 'GRAPH_FORBIDDEN',
  /** 404: the item (or the REST-enabled mailbox) does not exist. */
  NOT_FOUND: 'GRAPH_NOT_FOUND',
  /** 5xx. */
  SERVICE_UNAVAILABLE: 'GRAPH_SERVICE_UNAVAILABLE',
  /** Any other non-2xx answer. */
  REQUEST_FAILED: 'GRAPH_REQUEST_FAILED',
  /** No answer: connection refused/reset, DNS, socket closed. `evidence.requestSent` says whether it left. */
  NETWORK: 'GRAPH_NETWORK_ERROR',
  /** No answer within `timeoutMs`; the request may have been processed. */
  TIMEOUT: 'GRAPH_TIMEOUT',
  /** A 2xx whose body is not what Graph promises. The request was accepted. */
  INVALID_RESPONSE: 'GRAPH_INVALID_RESPONSE',
  /** A `@odata.nextLink` or upload URL we refuse to follow (another origin, not http(s)); nothing was sent. */
  UNTRUSTED_URL: 'GRAPH_UNTRUSTED_URL',
} as const;

export type GraphErrorCode = (typeof GRAPH_ERROR_CODES)[keyof typeof GRAPH_ERROR_CODES];

/** The Graph client's codes (src/errors/error-table.ts): 503 when throttled (retry later), else 502 (upstream). */
export const GRAPH_ERRORS = {
  GRAPH_THROTTLED: { status: 503, description: 'Graph answered 429: throttled; `retryAfterMs` says how long to wait.' },
  GRAPH_UNAUTHORIZED: { status: 502, description: 'Graph answered 401: the access token was refused.' },
  GRAPH_FORBIDDEN: {
    status: 502,
    description: 'Graph answered 403: missing permission, send-as denied, blocked sender…',
  },
  GRAPH_NOT_FOUND: {
    status: 502,
    description: 'Graph answered 404: the item (or the REST-enabled mailbox) does not exist.',
  },
  GRAPH_SERVICE_UNAVAILABLE: { status: 502, description: 'Graph answered 5xx.' },
  GRAPH_REQUEST_FAILED: { status: 502, description: 'Graph answered another non-2xx status.' },
  GRAPH_NETWORK_ERROR: {
    status: 502,
    description:
      'No answer from Graph (connection refused or reset, DNS, socket closed); `requestSent` says whether it left.',
  },
  GRAPH_TIMEOUT: { status: 502, description: 'No answer from Graph in time; the request may have been processed.' },
  GRAPH_INVALID_RESPONSE: {
    status: 502,
    description: 'A 2xx whose body is not what Graph promises. The request was accepted.',
  },
  GRAPH_UNTRUSTED_URL: {
    status: 502,
    description: 'A `@odata.nextLink` or upload URL refused (another origin, not http(s)); nothing was sent.',
  },
} as const satisfies Record<GraphErrorCode, ErrorTable[string]>;

function codeForStatus(status: number): GraphErrorCode {
  if (status === 429) return GRAPH_ERROR_CODES.THROTTLED;
  if (status === 401) return GRAPH_ERROR_CODES.UNAUTHORIZED;
  if (status === 403) return GRAPH_ERROR_CODES.FORBIDDEN;
  if (status === 404) return GRAPH_ERROR_CODES.NOT_FOUND;
  if (status >= 500) return GRAPH_ERROR_CODES.SERVICE_UNAVAILABLE;
  return GRAPH_ERROR_CODES.REQUEST_FAILED;
}

/**
 * Every failure of the Graph client. Carries the `ErrorEvidence` (status, Graph code, request-id, Retry-After in
 * ms, network cause, `requestSent`) and the call that failed (method and path, without query string: an upload
 * URL's query carries a credential). Never holds the access token.
 */
export class GraphError extends AppError {
  readonly evidence: ErrorEvidence;
  readonly method: string;
  readonly path: string;

  constructor(
    code: GraphErrorCode,
    message: string,
    evidence: ErrorEvidence,
    call: { method: string; path: string },
    options: { cause?: unknown } = {},
  ) {
    super(code, message, {
      status: GRAPH_ERRORS[code].status,
      details: {
        graphCode: evidence.graphCode,
        httpStatus: evidence.httpStatus,
        requestId: evidence.requestId,
        retryAfterMs: evidence.retryAfterMs,
        requestSent: evidence.requestSent,
      },
      cause: options.cause,
    });
    this.evidence = evidence;
    this.method = call.method;
    this.path = call.path;
  }

  /** The error for a non-2xx Graph answer whose evidence is already parsed. */
  static fromResponse(
    evidence: ErrorEvidence,
    call: { method: string; path: string },
    options: { cause?: unknown } = {},
  ): GraphError {
    const status = evidence.httpStatus ?? 0;
    const what = evidence.graphCode === undefined ? '' : ` ${evidence.graphCode}`;
    const message = `${call.method} ${call.path} failed: ${status}${what}`;
    return new GraphError(codeForStatus(status), message, evidence, call, options);
  }
}
