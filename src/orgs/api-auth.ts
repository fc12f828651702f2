import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors/app-error.js';
import type { ServiceDeps } from '../services.js';
import { type ApiKeyAuth, authenticateApiKey } from './api-keys.js';

const authenticated = new WeakMap<FastifyRequest, ApiKeyAuth>();

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
    const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
    const auth = match?.[1] ? await authenticateApiKey(deps.db, deps.clock, match[1]) : undefined;
    if (!auth) {
      reply.header('www-authenticate', 'Bearer realm="mailbridge", error="invalid_token"');
      throw new AppError('API_KEY_INVALID', 'The API key is malformed, unknown, revoked or expired.', {
        status: 401,
      });
    }
    authenticated.set(request, auth);
  };
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
