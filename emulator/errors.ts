import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from './context.js';

/** `YYYY-MM-DD HH:MM:SSZ`, the timestamp format of AADSTS errors. @see docs/entra.md §1.4 */
export function aadTimestamp(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

export interface AadErrorInput {
  /** OAuth `error`: invalid_grant, invalid_client, interaction_required … */
  error: string;
  /** The AADSTS number, e.g. 50173. */
  code: number;
  /** The text after `AADSTSnnnn: `. */
  description: string;
  suberror?: string;
  /** A claims challenge (JSON string), as sent with 50076/50079. */
  claims?: string;
}

/**
 * The JSON body Microsoft's token endpoint answers errors with: `error`, `error_description` (AADSTS prefix and
 * trace/correlation/timestamp trailer), `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`, and
 * `suberror` / `claims` when present. @see docs/entra.md §1.4
 */
export function aadErrorBody(ctx: EmulatorContext, input: AadErrorInput): Record<string, unknown> {
  const timestamp = aadTimestamp(ctx.clock.now());
  const traceId = ctx.random.guid();
  const correlationId = ctx.random.guid();
  const body: Record<string, unknown> = {
    error: input.error,
    error_description: `AADSTS${input.code}: ${input.description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: [input.code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `${ctx.urls.login}/error?code=${input.code}`,
  };
  if (input.suberror) body.suberror = input.suberror;
  if (input.claims) body.claims = input.claims;
  return body;
}

/** Sends an AADSTS error from the token endpoint: 401 for `invalid_client`, 400 otherwise. */
export function sendAadError(ctx: EmulatorContext, reply: FastifyReply, input: AadErrorInput, status?: number) {
  return reply
    .code(status ?? (input.error === 'invalid_client' ? 401 : 400))
    .header('cache-control', 'no-store, no-cache')
    .send(aadErrorBody(ctx, input));
}

/**
 * Sends a Graph error: `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}` with
 * `request-id`, `client-request-id` and `date` headers. @see docs/graph.md §3.2
 */
export function sendGraphError(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  extra: { retryAfterSeconds?: number; innerError?: Record<string, unknown> } = {},
) {
  const requestId = ctx.random.guid();
  const clientRequestId = headerValue(request, 'client-request-id') ?? requestId;
  const date = new Date(ctx.clock.now()).toISOString().slice(0, 19);
  reply
    .code(status)
    .header('request-id', requestId)
    .header('client-request-id', clientRequestId)
    .header('date', new Date(ctx.clock.now()).toUTCString());
  if (extra.retryAfterSeconds !== undefined) reply.header('retry-after', String(extra.retryAfterSeconds));
  return reply.send({
    error: {
      code,
      message,
      innerError: { ...extra.innerError, date, 'request-id': requestId, 'client-request-id': clientRequestId },
    },
  });
}

/** Adds the headers Graph puts on every answer. Call on success paths too. */
export function setGraphHeaders(ctx: EmulatorContext, request: FastifyRequest, reply: FastifyReply): void {
  const requestId = ctx.random.guid();
  reply
    .header('request-id', requestId)
    .header('client-request-id', headerValue(request, 'client-request-id') ?? requestId)
    .header('date', new Date(ctx.clock.now()).toUTCString());
}

export function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
