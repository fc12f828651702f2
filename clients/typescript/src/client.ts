import type { components, paths, webhooks } from './api-types.js';

/**
 * A thin client for the mailbridge host API (`/v1`): Bearer authentication, JSON in and out, and every error answer
 * (`{ "error": { "code", "message", "details"? } }`) thrown as a `MailbridgeApiError` carrying its stable `code`.
 * Paths, methods, parameters, bodies and answers are typed by `api-types.ts`, generated from the API's document
 * (`GET /v1/openapi.json`), where every route, body and error code is described.
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

/** A schema of the document by name, e.g. `Schema<'Account'>`, `Schema<'Event'>` (what a webhook delivers). */
export type Schema<Name extends keyof components['schemas']> = components['schemas'][Name];

/**
 * The body of a webhook delivery of one event type, from the document's `webhooks` section: e.g.
 * `WebhookEvent<'connect.failed'>`. (`Schema<'Event'>` is any of them, narrowed by `type`.)
 */
export type WebhookEvent<Type extends keyof webhooks> =
  webhooks[Type]['post']['requestBody']['content']['application/json'];

/** A route of the document, as written there: `/v1/accounts/{id}`. */
export type ApiPath = keyof paths;
export type ApiMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
/** The routes that answer `Method`. */
export type PathsFor<Method extends ApiMethod> = {
  [Path in ApiPath]: Lowercase<Method> extends keyof paths[Path] ? Path : never;
}[ApiPath];
/** The operation (parameters, request body, responses) of one route and method. */
export type Operation<Method extends ApiMethod, Path extends PathsFor<Method>> = paths[Path][Lowercase<Method> &
  keyof paths[Path]];

type ParametersOf<Op> = Op extends { parameters: infer Parameters } ? Parameters : Record<never, never>;
type BodyOf<Op> = Op extends { requestBody: { content: { 'application/json': infer Body } } }
  ? { body: Body }
  : Record<never, never>;
type ResponsesOf<Op> = Op extends { responses: infer Responses } ? Responses : never;
type JsonOf<Response> = Response extends { content: infer Content }
  ? [Content] extends [never]
    ? undefined
    : Content extends { 'application/json': infer Body }
      ? Body
      : undefined
  : undefined;

/**
 * What a request takes besides the method and path: `path` (the template's parameters), `query`, `header` (e.g.
 * `Idempotency-Key`) as the document declares them, and `body` when the route takes one. Required when the route
 * has a path parameter, a required query parameter or a body.
 */
export type RequestOptions<Op> = ParametersOf<Op> & BodyOf<Op>;
/** The JSON body of the answer with `Status` (undefined for 204), e.g. `ResponseBody<…, 200>` for a replayed send. */
export type ResponseBody<Op, Status extends keyof ResponsesOf<Op>> = JsonOf<ResponsesOf<Op>[Status]>;
type SuccessStatus = 200 | 201 | 202 | 204;
/** The body of any success answer of the operation (a send's 202 and its idempotent 200 replay have one shape). */
export type SuccessBody<Op> = {
  [Status in keyof ResponsesOf<Op> & SuccessStatus]: ResponseBody<Op, Status>;
}[keyof ResponsesOf<Op> & SuccessStatus];

type OptionsArgument<Op> =
  Record<never, never> extends RequestOptions<Op> ? [options?: RequestOptions<Op>] : [options: RequestOptions<Op>];

export interface MailbridgeClient {
  /**
   * `request('GET', '/v1/accounts/{id}', { path: { id } })`. Resolves with the success answer's JSON (undefined for
   * 204); any other answer is thrown as a `MailbridgeApiError`.
   */
  request<Method extends ApiMethod, Path extends PathsFor<Method>>(
    method: Method,
    path: Path,
    ...options: OptionsArgument<Operation<Method, Path>>
  ): Promise<SuccessBody<Operation<Method, Path>>>;
}

interface UntypedOptions {
  path?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined>;
  header?: Record<string, string | undefined>;
  body?: unknown;
}

export function createMailbridgeClient(options: MailbridgeClientOptions): MailbridgeClient {
  const send = options.fetch ?? fetch;
  const base = options.baseUrl.replace(/\/+$/, '');
  async function request(method: string, template: string, request: UntypedOptions = {}): Promise<unknown> {
    const path = template.replace(/\{([^}]+)\}/g, (_, name: string) => {
      const value = request.path?.[name];
      if (value === undefined) throw new TypeError(`${template}: no value for the path parameter ${name}`);
      return encodeURIComponent(value);
    });
    const url = new URL(`${base}${path}`);
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { authorization: `Bearer ${options.apiKey}` };
    for (const [name, value] of Object.entries(request.header ?? {})) if (value !== undefined) headers[name] = value;
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
    return json;
  }
  // The typed signature is the interface's; the body works on any route, so it is checked as untyped options.
  return { request: request as MailbridgeClient['request'] };
}
