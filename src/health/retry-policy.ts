import type { ErrorEvidence } from '../microsoft/error-evidence.js';
import { classifyHealth } from './classify-health.js';
import { DEFAULT_RETRY_AFTER_MS, SENDING_LIMIT_GRAPH_CODES } from './code-tables.js';

/**
 * Whether a failed write may be repeated without risking a duplicate.
 * - `not_sent`: the request never reached Microsoft (or we never got as far as sending it: the token refresh
 *   failed). Repeating it cannot duplicate anything.
 * - `rejected`: Microsoft answered and did not accept it (4xx, 429, 503).
 * - `unknown`: it may have been accepted (timeout or reset after sending, 500/502/504). A `sendMail` answers 202
 *   with no id, so there is nothing to deduplicate on: not a blind retry. @see docs/engineering.md §9
 *
 * `afterMs` is the minimum wait when Microsoft named one (`Retry-After`) or the situation implies one; absent,
 * the caller applies its own backoff.
 */
export interface RetryDecision {
  retry: boolean;
  afterMs?: number;
  outcome: 'not_sent' | 'rejected' | 'unknown';
}

/**
 * Pure retry decision for the outbox. Retries what is safe: requests not sent, 429, 503, sending limits (honouring
 * `Retry-After`). A 401 is `rejected` without retry here: the token provider refreshes once and repeats the call
 * itself; if it still fails, `classifyHealth(evidence, { afterFreshRefresh: true })` says what to do with the
 * account (hold its messages). @see docs/graph.md §3.2, issue 4 item 5
 */
export function isRetryable(evidence: ErrorEvidence): RetryDecision {
  switch (evidence.source) {
    case 'network':
      if (evidence.requestSent === 'no') return { retry: true, outcome: 'not_sent' };
      return { retry: false, outcome: 'unknown' };
    case 'token_endpoint':
    case 'authorize_redirect':
    case 'admin_consent_redirect': {
      // Getting a token failed, so the Graph request was never sent. Retry only when the failure was transient;
      // otherwise the account needs attention and its messages are held.
      const health = classifyHealth(evidence);
      return health.status === 'degraded'
        ? { retry: true, afterMs: health.retryAfterMs, outcome: 'not_sent' }
        : { retry: false, outcome: 'not_sent' };
    }
    case 'graph':
      return graphRetry(evidence);
  }
}

function graphRetry(evidence: ErrorEvidence): RetryDecision {
  const status = evidence.httpStatus ?? 0;
  const afterMs = evidence.retryAfterMs;
  const withAfter = (ms: number | undefined): RetryDecision =>
    ms === undefined ? { retry: true, outcome: 'rejected' } : { retry: true, afterMs: ms, outcome: 'rejected' };

  // Throttled and "service unavailable" mean the request was not processed. @see docs/graph.md §3.2
  if (status === 429 || status === 503) return withAfter(afterMs);
  if (evidence.graphCode !== undefined && SENDING_LIMIT_GRAPH_CODES.has(evidence.graphCode)) {
    return withAfter(afterMs ?? DEFAULT_RETRY_AFTER_MS.sending_limit_reached);
  }
  // 500/502/504 (or any other 5xx): a gateway or server failure may come after the mailbox accepted the message.
  if (status >= 500) return { retry: false, outcome: 'unknown' };
  if (status >= 400) return { retry: false, outcome: 'rejected' };
  // A 2xx/3xx that still failed (unreadable body, unexpected redirect): Microsoft may have acted on it.
  return { retry: false, outcome: 'unknown' };
}
