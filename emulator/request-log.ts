import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EmulatorContext, RequestLogEntry } from './context.js';

/** Query parameters whose values are secrets and never enter the request log. */
const SECRET_PARAMS = new Set([
  'code',
  'client_secret',
  'refresh_token',
  'access_token',
  'id_token',
  'password',
  'code_verifier',
  'client_assertion',
  // Upload sessions' pre-authenticated URLs carry their credential in the query. @see graph/upload-routes.ts
  'authtoken',
]);

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request was for, set by the identity and Graph handlers for the request log. */
    emulatorActor?: { clientId: string | null; userId: string | null };
    /** Set when a fault or a limit answered instead of the handler. */
    emulatorNote?: string;
    emulatorStartedAt?: number;
    /** Set once the request is in the log (an unanswered request is logged when its connection is dropped). */
    emulatorLogged?: boolean;
  }
}

function redactUrl(url: string): string {
  const [path, query] = url.split('?', 2);
  if (!query) return path!;
  const params = new URLSearchParams(query);
  for (const key of [...params.keys()]) if (SECRET_PARAMS.has(key)) params.set(key, '[redacted]');
  return `${path}?${params.toString()}`;
}

function appendEntry(ctx: EmulatorContext, request: FastifyRequest, status: number): void {
  if (request.emulatorLogged || request.url.startsWith('/_emulator/')) return;
  request.emulatorLogged = true;
  ctx.requestLog.push({
    seq: ctx.nextRequestSeq++,
    at: ctx.clock.now(),
    method: request.method,
    path: redactUrl(request.url),
    status,
    durationMs: Math.round((performance.now() - (request.emulatorStartedAt ?? performance.now())) * 1000) / 1000,
    clientId: request.emulatorActor?.clientId ?? null,
    userId: request.emulatorActor?.userId ?? null,
    note: request.emulatorNote ?? null,
  });
  // Trimmed in batches: dropping the oldest entry on every request moves the whole array each time (a quarter of a
  // millisecond at 50,000 entries), which would make the log the emulator's bottleneck once it is full.
  const limit = ctx.settings.requestLogLimit;
  if (ctx.requestLog.length > limit + Math.max(1024, Math.floor(limit / 4))) {
    ctx.requestLog.splice(0, ctx.requestLog.length - limit);
  }
}

/** The log as readers see it: the newest `requestLogLimit` entries, oldest first. */
export function recentRequests(ctx: EmulatorContext): RequestLogEntry[] {
  const limit = ctx.settings.requestLogLimit;
  return ctx.requestLog.length > limit ? ctx.requestLog.slice(-limit) : ctx.requestLog;
}

/**
 * Logs a request that never gets an answer (an injected `drop` or `timeoutAfterAccept` closes its connection, and
 * Fastify's `onResponse` does not run for it), with status 0.
 */
export function logUnanswered(ctx: EmulatorContext, request: FastifyRequest): void {
  appendEntry(ctx, request, 0);
}

/** Records every request (without secrets) for inspection through `/_emulator/requests`. */
export function registerRequestLog(app: FastifyInstance, ctx: EmulatorContext): void {
  app.addHook('onRequest', async (request: FastifyRequest) => {
    request.emulatorStartedAt = performance.now();
  });
  app.addHook('onResponse', async (request, reply) => {
    appendEntry(ctx, request, reply.statusCode);
  });
}
