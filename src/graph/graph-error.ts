import { AppError } from '../errors/app-error.js';
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
      status: code === GRAPH_ERROR_CODES.THROTTLED ? 503 : 502,
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
