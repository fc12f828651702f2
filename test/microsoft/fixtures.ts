/**
 * Microsoft-shaped error bodies, as Microsoft documents or as its SDK test fixtures record them.
 * @see docs/entra.md §1.3, §1.4, §1.7, §2, docs/graph.md §3.2
 */

const TRAILER =
  '\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\r\nCorrelation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2016-01-09 02:02:12Z';

/** A token-endpoint error body in Microsoft's shape: error, error_description with trailer, error_codes, ids. */
export function aadTokenError(
  error: string,
  code: number,
  text: string,
  extra: { suberror?: string; claims?: string } = {},
): Record<string, unknown> {
  return {
    error,
    error_description: `AADSTS${code}: ${text}${TRAILER}`,
    error_codes: [code],
    timestamp: '2016-01-09 02:02:12Z',
    trace_id: '0000aaaa-11bb-cccc-dd22-eeeeee333333',
    correlation_id: 'aaaa0000-bb11-2222-33cc-444444dddddd',
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    ...extra,
  };
}

/** The documented invalid_scope example. @see docs/entra.md §1.4 */
export const INVALID_SCOPE_BODY = aadTokenError(
  'invalid_scope',
  70011,
  "The provided value for the input parameter 'scope' is not valid. The scope https://example.contoso.com/activity.read is not valid.",
);

/** MSAL test_kit fixture: a bad refresh token. @see docs/entra.md §1.4 (MC test_kit/StringConstants.ts) */
export const MSAL_BAD_TOKEN_BODY = aadTokenError(
  'invalid_grant',
  9002313,
  'Invalid request. Request is malformed or invalid.',
  { suberror: 'bad_token' },
);

/** MSAL test_kit fixture: MFA enrollment with a claims challenge. */
export const MSAL_INTERACTION_REQUIRED_BODY = aadTokenError(
  'interaction_required',
  50079,
  'Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access this resource.',
  { claims: '{"access_token":{"polids":{"essential":true,"values":["9ab03e19-ed42-4168-b6b7-7001fb3e933a"]}}}' },
);

/** The authorize error redirect, as the MSAL-Android fixture `ERROR_RESPONSE_REDIRECT_URI` records it. */
export function authorizeErrorRedirect(error: string, code: number, text: string, extra: Record<string, string> = {}) {
  return new URLSearchParams({
    error,
    error_description: `AADSTS${code}: ${text}${TRAILER}`,
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    state: 'state-123',
    ...extra,
  });
}

/** A Graph error body. @see docs/graph.md §3.2 */
export function graphErrorBody(code: string, message: string, inner: Record<string, string> = {}) {
  return {
    error: {
      code,
      message,
      innerError: {
        date: '2024-05-01T10:00:00',
        'request-id': 'b1a2c3d4-0000-4000-8000-000000000001',
        'client-request-id': 'c1a2c3d4-0000-4000-8000-000000000002',
        ...inner,
      },
    },
  };
}

/** The documented 429. @see docs/graph.md §3.2 */
export const GRAPH_THROTTLED_BODY = graphErrorBody('TooManyRequests', 'Please retry again later.', {
  code: '429',
  message: 'Please retry after',
  status: '429',
});
export const GRAPH_THROTTLED_HEADERS = {
  'retry-after': '2.128',
  'request-id': 'b1a2c3d4-0000-4000-8000-000000000001',
};
