import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AccountWithOwner } from '../accounts/account-view.js';
import { AppError } from '../errors/app-error.js';
import { accountIdSchema } from '../http/common-schemas.js';
import type { ServiceDeps } from '../services.js';
import { type ApiKeyAuth, authenticateApiKey, authenticateApiKeyWithAccount } from './api-keys.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route's `:id` names an account it reads on every call: the authentication reads it too, in the key's
     * statement (`accountReadWithKey`; issue 14).
     */
    readsAccountWithKey?: boolean;
  }
}

const authenticated = new WeakMap<FastifyRequest, ApiKeyAuth>();
/** The account read with the key, per request: null when the key's organisation has no such account. */
const accountsRead = new WeakMap<FastifyRequest, { accountId: string; account: AccountWithOwner | null }>();

/**
 * An `onRequest` hook: authenticates `Authorization: Bearer mb_live_…` before the body is even read, so an
 * unauthenticated caller learns nothing (not even whether its JSON parses). 401 `API_KEY_MISSING` without the
 * header, 401 `API_KEY_INVALID` for another scheme, a malformed, unknown, revoked or expired key. @see RFC 6750 §3
 */
export function apiKeyAuthHook(deps: Pick<ServiceDeps, 'db' | 'clock'>) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization;
    if (header === undefined || header.trim() === '') {
      reply.header('www-authenticate', 'Bearer realm="mailbridge"');
      throw new AppError(
        'API_KEY_MISSING',
        'Send your API key as "Authorization: Bearer mb_live_…" (create one with `mailbridge api-keys create`).',
        { status: 401 },
      );
    }
    const presented = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header)?.[1];
    const accountId = accountIdOfRoute(request);
    let auth: ApiKeyAuth | undefined;
    if (presented !== undefined && accountId !== undefined) {
      const found = await authenticateApiKeyWithAccount(deps.db, deps.clock, presented, accountId);
      auth = found?.auth;
      if (found) accountsRead.set(request, { accountId, account: found.account ?? null });
    } else if (presented !== undefined) {
      auth = await authenticateApiKey(deps.db, deps.clock, presented);
    }
    if (!auth) {
      reply.header('www-authenticate', 'Bearer realm="mailbridge", error="invalid_token"');
      throw new AppError('API_KEY_INVALID', 'The API key is malformed, unknown, revoked or expired.', {
        status: 401,
      });
    }
    authenticated.set(request, auth);
  };
}

/** The `:id` of a route that reads its account with the key, when it is an account id (else the route refuses it). */
function accountIdOfRoute(request: FastifyRequest): string | undefined {
  if (request.routeOptions.config.readsAccountWithKey !== true) return undefined;
  const id = (request.params as { id?: unknown } | undefined)?.id;
  return accountIdSchema.safeParse(id).success ? (id as string) : undefined;
}

/**
 * The account `accountId` as the authentication read it, for a route with `readsAccountWithKey`: null when the key's
 * organisation has no such account, undefined when it was not read with the key (the route reads it itself then).
 */
export function accountReadWithKey(request: FastifyRequest, accountId: string): AccountWithOwner | null | undefined {
  const read = accountsRead.get(request);
  return read?.accountId === accountId ? read.account : undefined;
}

/** The organisation and key the request was authenticated with (set by `apiKeyAuthHook`). */
export function apiAuthOf(request: FastifyRequest): ApiKeyAuth {
  const auth = authenticated.get(request);
  if (!auth) throw new Error(`route ${request.routeOptions.url} ran without API key authentication`);
  return auth;
}

/**
 * `apiAuthOf` for the routes that manage the organisation's keys and webhook endpoints: they need a key with the
 * `admin` scope (a leaked standard key cannot mint keys or redirect the organisation's events).
 */
export function adminAuthOf(request: FastifyRequest): ApiKeyAuth {
  const auth = apiAuthOf(request);
  if (auth.scope !== 'admin') {
    throw new AppError(
      'API_KEY_SCOPE_INSUFFICIENT',
      'Managing API keys and webhook endpoints needs a key with the admin scope (mailbridge api-keys create --admin).',
      { status: 403 },
    );
  }
  return auth;
}
