import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext, FaultRule, MailboxUsage } from '../context.js';
import { headerValue, sendGraphError, setGraphHeaders } from '../errors.js';
import { applyFaultBeforeHandler, dropConnection, takeFault } from '../faults.js';
import type { AccessTokenRecord, Mailbox, User } from '../state/model.js';
import { graphUserId } from '../state/personal-accounts.js';
import { findAccessToken } from '../state/tokens.js';
import { GraphError, requestTooLarge, unreadableJson } from './graph-error.js';
import { admitRequest, releaseRequest, usageFor } from './limits.js';
import { type Preferences, readPreferences } from './message-view.js';

/**
 * The path every Graph request takes (docs/graph.md §3.2): bearer token (401 InvalidAuthenticationToken with
 * WWW-Authenticate), app + mailbox budgets (429 ApplicationThrottled), injected faults, scope (403
 * ErrorAccessDenied), mailbox state (404 MailboxNotEnabledForRESTAPI), then the handler. Every answer carries
 * `request-id`, `client-request-id` and `date`.
 */

export const JSON_CONTENT_TYPE =
  'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

/** Scope sets: the least-privileged delegated permission first (docs/graph.md §3.1, msgraph-metadata). */
export const SCOPES = {
  profile: [
    'User.Read',
    'User.ReadWrite',
    'User.ReadBasic.All',
    'User.Read.All',
    'User.ReadWrite.All',
    'Directory.Read.All',
  ],
  mailRead: ['Mail.ReadBasic', 'Mail.Read', 'Mail.ReadWrite'],
  mailWrite: ['Mail.ReadWrite'],
  mailSend: ['Mail.Send'],
  settingsRead: ['MailboxSettings.Read', 'MailboxSettings.ReadWrite'],
  settingsWrite: ['MailboxSettings.ReadWrite'],
} as const;

/** The body when a JSON request did not parse: handlers that read bodies answer 400 for it. */
export class UnreadableBody {}

export interface GraphCall {
  ctx: EmulatorContext;
  request: FastifyRequest;
  token: AccessTokenRecord;
  user: User;
  /** The owner's mailbox (present whenever the route needs one). */
  mailbox: Mailbox;
  usage: MailboxUsage;
  prefs: Preferences;
  params: Record<string, string>;
  /** `${graph}/v1.0/$metadata#users('<id>')`, the start of every `@odata.context` about this user. */
  contextBase: string;
}

export interface GraphResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type GraphHandler = (call: GraphCall) => GraphResult | Promise<GraphResult>;

export interface GraphRouteSpec {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Below `/v1.0/me` (and `/v1.0/users/{id | userPrincipalName}`), e.g. `/messages/:messageId`. */
  path: string;
  /** Any one of these delegated scopes suffices. */
  scopes: readonly string[];
  /** sendMail, /send and reply: subject to `send` faults. */
  send?: boolean;
  /** False for endpoints that work without a mailbox (`/me`). */
  needsMailbox?: boolean;
}

function wwwAuthenticate(ctx: EmulatorContext): string {
  return `Bearer realm="", authorization_uri="${ctx.urls.login}/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`;
}

function unauthenticated(ctx: EmulatorContext, message: string): GraphError {
  return new GraphError(401, 'InvalidAuthenticationToken', message, {
    headers: { 'www-authenticate': wwwAuthenticate(ctx) },
  });
}

/** Short scope name: `https://graph.microsoft.com/Mail.Send` → `mail.send`. */
function scopeName(scope: string): string {
  return scope.slice(scope.lastIndexOf('/') + 1).toLowerCase();
}

/**
 * Looks up the bearer token (emulator clock for expiry). Messages follow Graph's: an absent token, a token that
 * is not a JWT (IDX14100), an expired one. A disabled account is refused the way Exchange's continuous access
 * evaluation refuses it, with 401, so the client's refresh meets AADSTS50057 at the token endpoint.
 */
export function authenticateOrThrow(
  ctx: EmulatorContext,
  request: FastifyRequest,
): { token: AccessTokenRecord; user: User } {
  const header = headerValue(request, 'authorization');
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) throw unauthenticated(ctx, 'Access token is empty.');
  const token = findAccessToken(ctx, match[1]!);
  if (!token) {
    throw unauthenticated(
      ctx,
      "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format. (JWS): 'EncodedHeader.EncodedPayload.EncodedSignature'. (JWE): 'EncodedProtectedHeader.EncodedEncryptedKey.EncodedInitializationVector.EncodedCiphertext.EncodedAuthenticationTag'.",
    );
  }
  const now = ctx.clock.now();
  if (token.expiresAt <= now || token.issuedAt > now + 5 * 60_000) {
    throw unauthenticated(ctx, 'Access token has expired or is not yet valid.');
  }
  const user = ctx.world.users[token.userId];
  if (!user) throw unauthenticated(ctx, 'Access token validation failure. Invalid audience.');
  if (user.disabled) {
    throw unauthenticated(
      ctx,
      'Continuous access evaluation resulted in challenge with result: InteractionRequired and code: UserDisabled',
    );
  }
  return { token, user };
}

export function requireScopeOrThrow(token: AccessTokenRecord, scopes: readonly string[]): void {
  const granted = new Set(token.scopes.map(scopeName));
  if (!scopes.some((scope) => granted.has(scope.toLowerCase()))) {
    throw new GraphError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
  }
}

export function mailboxOrThrow(ctx: EmulatorContext, user: User): Mailbox {
  const mailbox = ctx.world.mailboxes[user.id];
  if (!mailbox || !user.mailboxEnabled) {
    throw new GraphError(
      404,
      'MailboxNotEnabledForRESTAPI',
      'The mailbox is either inactive, soft-deleted, or is hosted on-premise.',
    );
  }
  return mailbox;
}

/** The request body, or 400 when JSON was promised and not delivered (or bytes of another type came instead). */
export function jsonBodyOrThrow(call: GraphCall): unknown {
  const body = call.request.body;
  if (body instanceof UnreadableBody || Buffer.isBuffer(body) || typeof body === 'string') throw unreadableJson();
  return body;
}

export function sendGraphResult(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  result: GraphResult,
): FastifyReply {
  setGraphHeaders(ctx, request, reply);
  for (const [name, value] of Object.entries(result.headers ?? {})) reply.header(name, value);
  reply.code(result.status);
  if (result.body === undefined) return reply.send();
  return reply.header('content-type', JSON_CONTENT_TYPE).send(JSON.stringify(result.body));
}

export function sendGraphFailure(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  error: GraphError,
): FastifyReply {
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  return sendGraphError(ctx, request, reply, error.status, error.code, error.message, {
    ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
    ...(error.innerError === undefined ? {} : { innerError: error.innerError }),
  });
}

function preferenceApplied(prefs: Preferences): string | null {
  const applied: string[] = [];
  if (prefs.immutableIds) applied.push('IdType="ImmutableId"');
  if (prefs.bodyAsText) applied.push('outlook.body-content-type="text"');
  return applied.length > 0 ? applied.join(', ') : null;
}

function isUserKeyOf(user: User, key: string): boolean {
  const wanted = key.toLowerCase();
  return wanted === graphUserId(user) || wanted === user.email;
}

/** Registers a Graph route under `/v1.0/me` and `/v1.0/users/{id | userPrincipalName}`. */
export function graphRoute(
  scope: FastifyInstance,
  ctx: EmulatorContext,
  spec: GraphRouteSpec,
  handler: GraphHandler,
): void {
  const run = async (request: FastifyRequest, reply: FastifyReply) => {
    const params = { ...(request.params as Record<string, string>) };
    let usage: MailboxUsage | null = null;
    let fault: FaultRule | null = null;
    let result: GraphResult | GraphError;
    try {
      const { token, user } = authenticateOrThrow(ctx, request);
      request.emulatorActor = { clientId: token.clientId, userId: user.id };
      if (params.userKey !== undefined && !isUserKeyOf(user, params.userKey)) {
        // Delegated access to another user's mailbox needs delegation the emulator does not model.
        throw new GraphError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
      }
      const candidate = usageFor(ctx, token.clientId, user.id);
      const verdict = admitRequest(ctx, candidate);
      if (!verdict.ok) {
        request.emulatorNote = `throttle:${verdict.kind}`;
        throw new GraphError(verdict.status, verdict.code, verdict.message, {
          ...(verdict.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: verdict.retryAfterSeconds }),
        });
      }
      usage = candidate;
      fault = takeFault(ctx, spec.send ? 'send' : 'graph', user.id);
      if (fault && (await applyFaultBeforeHandler(ctx, request, reply, fault, 'graph')) === 'answered') return reply;
      requireScopeOrThrow(token, spec.scopes);
      const needsMailbox = spec.needsMailbox ?? true;
      const mailbox = needsMailbox ? mailboxOrThrow(ctx, user) : (ctx.world.mailboxes[user.id] as Mailbox);
      const length = Number(headerValue(request, 'content-length') ?? 0);
      if (length > ctx.settings.limits.maxRequestBytes) {
        // Graph refuses requests over 4 MB. @see docs/graph.md §3.3
        throw requestTooLarge();
      }
      const prefs = readPreferences(request);
      result = await handler({
        ctx,
        request,
        token,
        user,
        mailbox,
        usage,
        prefs,
        params,
        contextBase: `${ctx.urls.graph}/v1.0/$metadata#users('${graphUserId(user)}')`,
      });
      const applied = preferenceApplied(prefs);
      if (applied) result.headers = { 'preference-applied': applied, ...result.headers };
    } catch (error) {
      if (!(error instanceof GraphError)) throw error;
      result = error;
    } finally {
      if (usage) releaseRequest(usage);
    }
    if (fault?.kind === 'timeoutAfterAccept') {
      // The work is done (a send is delivered and logged); the client never hears back.
      dropConnection(ctx, request, reply);
      return reply;
    }
    if (result instanceof GraphError) return sendGraphFailure(ctx, request, reply, result);
    return sendGraphResult(ctx, request, reply, result);
  };
  scope.route({ method: spec.method, url: `/v1.0/me${spec.path}`, handler: run });
  scope.route({ method: spec.method, url: `/v1.0/users/:userKey${spec.path}`, handler: run });
}

/** `client-request-id` as the client sent it, for answers outside the pipeline. */
export function clientRequestId(request: FastifyRequest): string | undefined {
  return headerValue(request, 'client-request-id');
}
