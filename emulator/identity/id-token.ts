import { createHash } from 'node:crypto';
import { SignJWT } from 'jose';
import type { EmulatorContext } from '../context.js';
import { CONSUMER_TENANT_ID, type User } from '../state/model.js';
import { hasScope } from './scopes.js';
import { privateKeyObject, signingKeyFor } from './signing-keys.js';

/**
 * v2 id_tokens: RS256 JWTs with Microsoft's claims. @see docs/entra.md §1.6
 */

/** `${login}/${tid}/v2.0`: the issuer of tokens for a tenant (the consumer tenant for personal accounts). */
export function issuerFor(ctx: EmulatorContext, tenantId: string): string {
  return `${ctx.urls.login}/${tenantId}/v2.0`;
}

/**
 * The pairwise `sub`: stable for one user and app, different across apps, and meaningless elsewhere
 * (43 base64url characters, as Microsoft's look).
 */
export function pairwiseSubject(user: User, clientId: string): string {
  return createHash('sha256').update(`sub|${user.tenantId}|${user.id}|${clientId}`).digest('base64url');
}

export async function issueIdToken(
  ctx: EmulatorContext,
  input: { user: User; clientId: string; scopes: string[]; nonce: string | null; sessionId: string },
): Promise<string> {
  const { user, clientId, scopes } = input;
  const personal = user.kind === 'personal';
  const tid = personal ? CONSUMER_TENANT_ID : user.tenantId;
  const key = signingKeyFor(ctx, personal ? 'consumer' : 'org');
  const iat = ctx.clock.nowSeconds();
  const claims: Record<string, unknown> = {
    aud: clientId,
    iss: issuerFor(ctx, tid),
    iat,
    nbf: iat,
    exp: iat + ctx.settings.idTokenLifetimeSeconds,
    aio: ctx.random.token(48),
  };
  if (personal) claims.idp = `https://sts.windows.net/${CONSUMER_TENANT_ID}/`;
  // `name`, `oid` and `preferred_username` need the `profile` scope, `email` the `email` scope; with `openid` alone
  // the token says only who signed in pairwise (`sub`) and where (`tid`). @see docs/entra.md §1.6
  const profile = hasScope(scopes, 'profile');
  if (hasScope(scopes, 'email')) claims.email = user.email;
  if (profile) claims.name = user.displayName;
  if (input.nonce !== null) claims.nonce = input.nonce;
  if (profile) claims.oid = user.id;
  if (profile) claims.preferred_username = user.email;
  Object.assign(claims, {
    rh: `0.A${ctx.random.token(40)}`,
    sid: input.sessionId,
    sub: pairwiseSubject(user, clientId),
    tid,
    uti: ctx.random.token(16),
    ver: '2.0',
  });
  return new SignJWT(claims).setProtectedHeader({ typ: 'JWT', alg: 'RS256', kid: key.kid }).sign(privateKeyObject(key));
}

/** `client_info`: base64url `{"uid":oid,"utid":tid}`, which MSAL builds its account ids from. */
export function clientInfo(user: User): string {
  const utid = user.kind === 'personal' ? CONSUMER_TENANT_ID : user.tenantId;
  return Buffer.from(JSON.stringify({ uid: user.id, utid })).toString('base64url');
}
