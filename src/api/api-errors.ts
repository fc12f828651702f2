/**
 * Every error code the host API (`/v1`) answers with, its HTTP status and what it means. The OpenAPI document lists
 * them per operation, and `test/api/openapi.test.ts` fails when a code thrown by the API's modules is missing here.
 * Errors are always `{ "error": { "code", "message", "details"? } }`.
 */
export const API_ERRORS = {
  API_KEY_MISSING: {
    status: 401,
    description: 'No `Authorization: Bearer <API key>` header. Create a key with `mailbridge api-keys create`.',
  },
  API_KEY_INVALID: {
    status: 401,
    description: 'The Authorization header is not `Bearer mb_live_…`, or the key is unknown, revoked or expired.',
  },
  API_KEY_SCOPE_INSUFFICIENT: {
    status: 403,
    description:
      'Managing API keys and webhook endpoints needs a key with the `admin` scope (`mailbridge api-keys create --admin`).',
  },
  API_KEY_NOT_FOUND: { status: 404, description: 'No API key with this id in your organisation.' },
  API_KEY_NAME_INVALID: { status: 400, description: 'An API key name is 1 to 200 characters.' },
  API_KEY_EXPIRY_INVALID: { status: 400, description: 'An API key expiry must lie in the future.' },
  REQUEST_INVALID: {
    status: 400,
    description:
      'A path parameter, query parameter or body field is missing, unknown or invalid. `details.issues` lists each ' +
      'problem with its `location` (`path`, `query`, `body`), `field` (dotted path) and `message`.',
  },
  REQUEST_JSON_INVALID: { status: 400, description: 'The body is not valid JSON.' },
  REQUEST_CONTENT_TYPE_UNSUPPORTED: { status: 415, description: 'A request with a body must send `application/json`.' },
  REQUEST_BODY_TOO_LARGE: { status: 413, description: 'The body is larger than the API accepts.' },
  NOT_FOUND: { status: 404, description: 'No such route.' },
  ACCOUNT_NOT_FOUND: {
    status: 404,
    description: 'No account with this id in your organisation (accounts of other organisations are never visible).',
  },
  ORG_NOT_FOUND: { status: 404, description: "The API key's organisation no longer exists." },
  OWNER_NOT_FOUND: { status: 404, description: 'No owner with this id in your organisation.' },
  OWNER_NO_CONNECTED_ACCOUNT: {
    status: 409,
    description:
      '`microsoft` ("Personal Outlook") needs a connected Microsoft account for the owner: connect one first.',
  },
  ORG_NAME_INVALID: { status: 400, description: 'An organisation name is 1 to 200 printable characters.' },
  ORG_RETURN_URL_INVALID: {
    status: 400,
    description:
      'An allowed return URL is an absolute https URL (http only for localhost, 127.0.0.1 or [::1]) without user ' +
      'name, password, query or fragment. `details.index` names the entry.',
  },
  ORG_RETURN_URLS_TOO_MANY: { status: 400, description: 'At most 50 allowed return URLs.' },
  CONNECT_RETURN_URL_NOT_ALLOWED: {
    status: 400,
    description:
      "`returnUrl` does not match the organisation's allow-list (same origin, path prefix at a segment " +
      'boundary). Manage the list with `PATCH /v1/organization`.',
  },
  // The connect module checks its input again (defence in depth); the API's own validation normally answers first
  // with REQUEST_INVALID / CONNECT_RETURN_URL_NOT_ALLOWED.
  CONNECT_OWNER_ID_INVALID: { status: 400, description: 'ownerId is 1 to 255 printable characters.' },
  CONNECT_PERMISSION_PROFILE_INVALID: { status: 400, description: 'permissionProfile is `send` or `warmup`.' },
  CONNECT_LOGIN_HINT_INVALID: { status: 400, description: 'loginHint is an email address (or user principal name).' },
  CONNECT_EXPECTED_EMAIL_INVALID: { status: 400, description: 'expectedEmail is an email address.' },
  CONNECT_SESSION_NOT_FOUND: {
    status: 404,
    description: 'No connect session with this id in your organisation.',
  },
  CONNECT_ORGANIZATION_NOT_FOUND: { status: 404, description: "The API key's organisation no longer exists." },
  WEBHOOK_DELIVERY_NOT_FOUND: {
    status: 404,
    description: 'No webhook delivery with this id in your organisation.',
  },
  WEBHOOK_DELIVERY_ALREADY_PENDING: {
    status: 409,
    description: 'The delivery is already scheduled; only a failed or delivered one can be retried.',
  },
  WEBHOOK_ENDPOINT_NOT_FOUND: { status: 404, description: 'No webhook endpoint with this id in your organisation.' },
  WEBHOOK_ENDPOINT_URL_INVALID: {
    status: 400,
    description:
      'A webhook URL is an absolute https URL (http only for localhost, 127.0.0.1 or [::1]) without user name, ' +
      'password, query or fragment.',
  },
  WEBHOOK_ENDPOINTS_TOO_MANY: { status: 409, description: 'An organisation has at most 10 webhook endpoints.' },
  WEBHOOK_SECRET_TOO_SHORT: {
    status: 400,
    description: 'A webhook secret is at least 32 characters; make one with `openssl rand -hex 32` (or leave it out).',
  },
  WEBHOOK_SECRET_TOO_LONG: { status: 400, description: 'A webhook secret is at most 256 characters.' },
  WEBHOOK_ROTATION_OVERLAP_INVALID: {
    status: 400,
    description: '`overlapSeconds` is a whole number from 0 to 604800 (a week).',
  },
  INTERNAL: { status: 500, description: 'Something went wrong on our side; nothing you sent was wrong.' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;
