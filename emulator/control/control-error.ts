/**
 * Errors of the control API: `{"error":{"code","message"}}` with an HTTP status. Codes are UPPER_SNAKE, prefixed
 * `CONTROL_`, never reused; the README lists them.
 */
export type ControlErrorCode =
  | 'CONTROL_INVALID_REQUEST'
  | 'CONTROL_ROUTE_NOT_FOUND'
  | 'CONTROL_TENANT_NOT_FOUND'
  | 'CONTROL_USER_NOT_FOUND'
  | 'CONTROL_APP_NOT_FOUND'
  | 'CONTROL_SECRET_NOT_FOUND'
  | 'CONTROL_CONSENT_NOT_FOUND'
  | 'CONTROL_ADMIN_CONSENT_NOT_FOUND'
  | 'CONTROL_APPROVAL_REQUEST_NOT_FOUND'
  | 'CONTROL_APPROVAL_REQUEST_NOT_PENDING'
  | 'CONTROL_FAULT_NOT_FOUND'
  | 'CONTROL_MAILBOX_NOT_FOUND'
  | 'CONTROL_FOLDER_NOT_FOUND'
  | 'CONTROL_TENANT_EXISTS'
  | 'CONTROL_DOMAIN_TAKEN'
  | 'CONTROL_USER_EXISTS'
  | 'CONTROL_APP_EXISTS'
  | 'CONTROL_DEMO_ALREADY_SEEDED'
  | 'CONTROL_SNAPSHOT_NOT_CONFIGURED'
  | 'CONTROL_SNAPSHOT_FAILED'
  | 'CONTROL_INTERNAL_ERROR';

export class ControlError extends Error {
  readonly code: ControlErrorCode;
  readonly status: number;

  constructor(code: ControlErrorCode, message: string, status: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ControlError';
    this.code = code;
    this.status = status;
  }
}

export function notFound(code: ControlErrorCode, message: string): ControlError {
  return new ControlError(code, message, 404);
}

export function conflict(code: ControlErrorCode, message: string): ControlError {
  return new ControlError(code, message, 409);
}

export function invalidRequest(message: string): ControlError {
  return new ControlError('CONTROL_INVALID_REQUEST', message, 400);
}
