/**
 * The error codes every operation of a kind can answer with, whichever module serves it (each is in the error
 * registry, src/api/error-registry.ts), for the operations' declared errors in the OpenAPI document.
 */

/** Codes any authenticated operation can answer with. */
export const COMMON_ERRORS = ['API_KEY_MISSING', 'API_KEY_INVALID', 'INTERNAL'] as const;

/** Codes any operation with a JSON body can answer with. */
export const BODY_ERRORS = [
  'REQUEST_INVALID',
  'REQUEST_JSON_INVALID',
  'REQUEST_CONTENT_TYPE_UNSUPPORTED',
  'REQUEST_BODY_TOO_LARGE',
] as const;
