/**
 * A thin client for the mailbridge host API (`/v1`): Bearer authentication, JSON in and out, and every error answer
 * (`{ "error": { "code", "message", "details"? } }`) thrown as a `MailbridgeApiError` carrying its stable `code`.
 * The API's document is `GET /v1/openapi.json`; every route, body and error code is described there.
 */
export class MailbridgeApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'MailbridgeApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export interface MailbridgeClientOptions {
  /** Where mailbridge is served, e.g. `https://mailbridge.example.com` (no `/v1`). */
  baseUrl: string;
  /** `mb_live_…` */
  apiKey: string;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  /** Query parameters; undefined values are left out. */
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** E.g. `{ 'Idempotency-Key': 'order-1234' }` on a send. */
  headers?: Record<string, string>;
}

export interface MailbridgeClient {
  /** `path` is under `/v1`, e.g. `/accounts/acc_…`. Resolves with the JSON answer (undefined for 204). */
  request<T = unknown>(method: string, path: string, options?: RequestOptions): Promise<T>;
}

export function createMailbridgeClient(options: MailbridgeClientOptions): MailbridgeClient {
  const send = options.fetch ?? fetch;
  const base = options.baseUrl.replace(/\/+$/, '');
  return {
    async request<T>(method: string, path: string, request: RequestOptions = {}): Promise<T> {
      const url = new URL(`${base}/v1${path}`);
      for (const [name, value] of Object.entries(request.query ?? {})) {
        if (value !== undefined) url.searchParams.set(name, String(value));
      }
      const headers: Record<string, string> = { authorization: `Bearer ${options.apiKey}`, ...request.headers };
      if (request.body !== undefined) headers['content-type'] = 'application/json';
      const response = await send(url, {
        method,
        headers,
        ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      });
      const text = await response.text();
      const json: unknown = text === '' ? undefined : JSON.parse(text);
      if (!response.ok) {
        const error = (json as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
        throw new MailbridgeApiError(
          response.status,
          error?.code ?? 'HTTP_ERROR',
          error?.message ?? `HTTP ${response.status}`,
          error?.details,
        );
      }
      return json as T;
    },
  };
}
