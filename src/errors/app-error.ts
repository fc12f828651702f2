/**
 * The one error base of mailbridge. Codes are UPPER_SNAKE, prefixed by module (`VAULT_TAMPERED`,
 * `CONFIG_INVALID`), and never reused. `status` is the HTTP status an API answer carries when the error
 * reaches the edge; `details` is safe to show to the caller (never a secret).
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: string,
    message: string,
    options: { status?: number; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = options.status ?? 500;
    this.details = options.details;
  }
}
