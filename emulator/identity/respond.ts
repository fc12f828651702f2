import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { type AadErrorInput, aadErrorBody } from '../errors.js';
import { errorPage, type FormTarget, formPostPage } from './pages.js';

/** The first value of a query or form field (repeated fields arrive as arrays). */
export function field(source: unknown, name: string): string | undefined {
  if (!source || typeof source !== 'object') return undefined;
  const value = (source as Record<string, unknown>)[name];
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined;
  return typeof value === 'string' ? value : undefined;
}

/** Like `field`, but an empty value counts as absent. */
export function nonEmptyField(source: unknown, name: string): string | undefined {
  const value = field(source, name);
  return value === undefined || value === '' ? undefined : value;
}

export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index < 0) continue;
    if (part.slice(0, index).trim() === name) {
      try {
        return decodeURIComponent(part.slice(index + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** Headers every identity page carries: never cached, never framed. */
export function sendHtml(reply: FastifyReply, status: number, html: string, scriptNonce?: string) {
  const scripts = scriptNonce ? `'nonce-${scriptNonce}'` : "'none'";
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store, no-cache')
    .header('pragma', 'no-cache')
    .header('x-frame-options', 'DENY')
    .header('content-security-policy', `default-src 'none'; style-src 'unsafe-inline'; script-src ${scripts}`)
    .send(html);
}

export interface RedirectTarget {
  redirectUri: string;
  responseMode: 'query' | 'fragment' | 'form_post';
}

/**
 * Sends the browser back to the app with `fields`: as query parameters (kept after any the redirect URI already
 * has), in the fragment, or through an auto-submitting form (`form_post`). @see docs/entra.md §1.2, §1.3
 */
export function redirectToApp(
  ctx: EmulatorContext,
  reply: FastifyReply,
  target: RedirectTarget,
  fields: Array<[string, string]>,
) {
  if (target.responseMode === 'form_post') {
    const nonce = ctx.random.token(12);
    return sendHtml(reply, 200, formPostPage(target.redirectUri, fields, nonce), nonce);
  }
  const url = new URL(target.redirectUri);
  const params = new URLSearchParams(fields);
  if (target.responseMode === 'fragment') url.hash = params.toString();
  else for (const [name, value] of params) url.searchParams.append(name, value);
  return reply.code(302).header('cache-control', 'no-store, no-cache').header('location', url.toString()).send();
}

/**
 * Redirects an error to the app: `error`, `error_description` (AADSTS text with the trace trailer), `error_uri`,
 * then `state` ([OBS] the order in MSAL-Android's fixture), plus `error_subcode` / `admin_consent` when set.
 */
export function redirectError(
  ctx: EmulatorContext,
  reply: FastifyReply,
  target: RedirectTarget,
  input: AadErrorInput,
  extra: { state: string | null; errorSubcode?: string; adminConsent?: boolean },
) {
  const body = aadErrorBody(ctx, input);
  const fields: Array<[string, string]> = [];
  if (extra.adminConsent) fields.push(['admin_consent', 'True']);
  fields.push(['error', String(body.error)]);
  if (extra.errorSubcode) fields.push(['error_subcode', extra.errorSubcode]);
  if (input.suberror) fields.push(['suberror', input.suberror]);
  fields.push(['error_description', String(body.error_description)], ['error_uri', String(body.error_uri)]);
  if (extra.state !== null) fields.push(['state', extra.state]);
  return redirectToApp(ctx, reply, target, fields);
}

/** Microsoft's own error page, for errors that must not be redirected to an untrusted `redirect_uri`. */
export function sendErrorPage(
  ctx: EmulatorContext,
  reply: FastifyReply,
  input: AadErrorInput,
  options: { status?: number; retry?: FormTarget } = {},
) {
  const body = aadErrorBody(ctx, input);
  const html = errorPage({
    code: input.code,
    message: input.description,
    traceId: String(body.trace_id),
    correlationId: String(body.correlation_id),
    timestamp: String(body.timestamp),
    retry: options.retry,
  });
  // [GUESS] Microsoft answers its error page with 200; 400 lets a client tell a refusal from a sign-in page.
  return sendHtml(reply, options.status ?? 400, html);
}
