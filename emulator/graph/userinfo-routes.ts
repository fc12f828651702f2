import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { pairwiseSubject } from '../identity/id-token.js';
import { GraphError } from './graph-error.js';
import { authenticateOrThrow, sendGraphFailure, sendGraphResult } from './pipeline.js';

/**
 * The OpenID Connect UserInfo endpoint that discovery names (`userinfo_endpoint`), hosted by Graph at
 * `/oidc/userinfo`, GET or POST with the Graph access token. It answers the ID token's `sub` and, with `profile`,
 * the names (and a `picture` link), with `email`, the address. @see docs/entra.md §1.1
 */

function hasTokenScope(scopes: readonly string[], wanted: string): boolean {
  return scopes.some((scope) => scope.slice(scope.lastIndexOf('/') + 1).toLowerCase() === wanted);
}

export function registerUserinfoRoutes(scope: FastifyInstance, ctx: EmulatorContext): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      const { token, user } = authenticateOrThrow(ctx, request);
      request.emulatorActor = { clientId: token.clientId, userId: user.id };
      if (!hasTokenScope(token.scopes, 'openid')) {
        // [GUESS] code: the documented requirement is the `openid` permission; Graph's usual refusal is assumed.
        throw new GraphError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
      }
      const body: Record<string, unknown> = { sub: pairwiseSubject(user, token.clientId) };
      if (hasTokenScope(token.scopes, 'profile')) {
        body.name = user.displayName;
        body.family_name = user.surname;
        body.given_name = user.givenName;
        body.picture = `${ctx.urls.graph}/v1.0/me/photo/$value`;
      }
      if (hasTokenScope(token.scopes, 'email')) body.email = user.email;
      return sendGraphResult(ctx, request, reply, { status: 200, body });
    } catch (error) {
      if (error instanceof GraphError) return sendGraphFailure(ctx, request, reply, error);
      throw error;
    }
  };
  scope.get('/oidc/userinfo', handler);
  scope.post('/oidc/userinfo', handler);
}
