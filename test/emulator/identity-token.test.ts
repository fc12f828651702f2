import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeJwt, type JSONWebKeySet, jwtVerify } from 'jose';
import { SignInDriver } from '../../emulator/identity/sign-in-driver.js';
import { DEMO_IDS, DEMO_PASSWORD } from '../../emulator/index.js';
import { addApp, addUser } from '../../emulator/state/builders.js';
import { CONSUMER_TENANT_ID, type User } from '../../emulator/state/model.js';
import { findAccessToken } from '../../emulator/state/tokens.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';

const SCOPE = 'openid profile offline_access User.Read Mail.Send';
const DAY = 86400;

interface TokenAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

describe('identity token endpoint', () => {
  let emulator: SeededEmulator;
  let counter = 0;

  before(async () => {
    emulator = await startSeededEmulator();
  });
  after(() => emulator.close());

  function newUser(kind: 'work' | 'personal' = 'work'): User {
    counter++;
    return addUser(emulator.ctx, {
      email: kind === 'work' ? `token${counter}@contoso.com` : `token${counter}@outlook.com`,
      password: DEMO_PASSWORD,
      displayName: `Token User${counter}`,
      ...(kind === 'work' ? { tenantId: DEMO_IDS.contosoTenantId } : { kind: 'personal' }),
    });
  }

  /** Signs in through the pages (PKCE S256 unless told) and returns the code and the verifier. */
  async function authorize(
    user: User,
    options: {
      scope?: string;
      tenant?: string;
      clientId?: string;
      pkce?: 'S256' | 'plain' | 'none';
      nonce?: string;
      driver?: SignInDriver;
    } = {},
  ): Promise<{ code: string; verifier: string; sessionState: string }> {
    const verifier = randomBytes(32).toString('base64url');
    const pkce = options.pkce ?? 'S256';
    const params: Record<string, string> = {
      client_id: options.clientId ?? emulator.seed.app.clientId,
      response_type: 'code',
      redirect_uri: emulator.redirectUri,
      scope: options.scope ?? SCOPE,
      state: 'st',
    };
    if (options.nonce) params.nonce = options.nonce;
    if (pkce === 'S256') {
      params.code_challenge = createHash('sha256').update(verifier).digest('base64url');
      params.code_challenge_method = 'S256';
    } else if (pkce === 'plain') {
      params.code_challenge = verifier;
    }
    const url = `${emulator.url}/${options.tenant ?? 'common'}/oauth2/v2.0/authorize?${new URLSearchParams(params)}`;
    const callback = await (options.driver ?? new SignInDriver()).signIn(url, {
      email: user.email,
      password: DEMO_PASSWORD,
    });
    const code = callback.params.get('code');
    assert.ok(code, `no code: ${callback.params.get('error_description')}`);
    return { code, verifier, sessionState: callback.params.get('session_state')! };
  }

  async function token(
    fields: Record<string, string>,
    options: { tenant?: string; basic?: { id: string; secret: string }; withSecret?: boolean } = {},
  ): Promise<TokenAnswer> {
    const body = new URLSearchParams(fields);
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (options.basic) {
      const encode = (value: string) => encodeURIComponent(value).replaceAll('%20', '+');
      headers.authorization = `Basic ${Buffer.from(`${encode(options.basic.id)}:${encode(options.basic.secret)}`).toString('base64')}`;
    } else if (options.withSecret !== false) {
      if (!body.has('client_id')) body.set('client_id', emulator.seed.app.clientId);
      if (!body.has('client_secret')) body.set('client_secret', emulator.clientSecret);
    }
    const response = await fetch(`${emulator.url}/${options.tenant ?? 'common'}/oauth2/v2.0/token`, {
      method: 'POST',
      headers,
      body,
    });
    return {
      status: response.status,
      headers: response.headers,
      body: (await response.json()) as Record<string, unknown>,
    };
  }

  async function redeem(code: string, verifier: string, extra: Record<string, string> = {}, tenant?: string) {
    return token(
      { grant_type: 'authorization_code', code, redirect_uri: emulator.redirectUri, code_verifier: verifier, ...extra },
      { tenant },
    );
  }

  async function connect(user: User, scope = SCOPE): Promise<TokenAnswer> {
    const { code, verifier } = await authorize(user, { scope });
    const answer = await redeem(code, verifier);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer;
  }

  async function refresh(refreshToken: string, extra: Record<string, string> = {}) {
    return token({ grant_type: 'refresh_token', refresh_token: refreshToken, ...extra });
  }

  function assertAadError(answer: TokenAnswer, status: number, error: string, code: number, suberror?: string) {
    assert.equal(answer.status, status, JSON.stringify(answer.body));
    assert.equal(answer.body.error, error);
    assert.deepEqual(answer.body.error_codes, [code]);
    assert.match(String(answer.body.error_description), new RegExp(`^AADSTS${code}: `));
    assert.match(String(answer.body.timestamp), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
    assert.ok(answer.body.trace_id && answer.body.correlation_id);
    assert.equal(answer.body.error_uri, `${emulator.url}/error?code=${code}`);
    assert.equal(answer.body.suberror, suberror);
  }

  async function jwks(tenant: string): Promise<JSONWebKeySet> {
    return (await (await fetch(`${emulator.url}/${tenant}/discovery/v2.0/keys`)).json()) as JSONWebKeySet;
  }

  describe('authorization_code grant', () => {
    it("answers Microsoft's success shape, never cached", async () => {
      const user = newUser();
      const { body, headers } = await connect(user);
      assert.match(headers.get('cache-control') ?? '', /no-store/);
      assert.deepEqual(Object.keys(body), [
        'token_type',
        'scope',
        'expires_in',
        'ext_expires_in',
        'access_token',
        'refresh_token',
        'id_token',
      ]);
      assert.equal(body.token_type, 'Bearer');
      assert.equal(body.scope, 'User.Read Mail.Send profile openid email');
      assert.equal(typeof body.expires_in, 'number');
      assert.ok((body.expires_in as number) >= 3600 && (body.expires_in as number) <= 5400);
      assert.equal(body.ext_expires_in, body.expires_in);
      const record = findAccessToken(emulator.ctx, String(body.access_token));
      assert.equal(record?.userId, user.id);
      assert.ok(record?.scopes.includes('Mail.Send'));
    });

    it('gives a refresh token only with offline_access, an id_token only with openid, client_info only on request', async () => {
      const user = newUser();
      const { body } = await connect(user, 'User.Read Mail.Send');
      assert.equal(body.refresh_token, undefined);
      assert.equal(body.id_token, undefined);
      assert.equal(body.client_info, undefined);
      assert.equal(body.scope, 'User.Read Mail.Send');
      const { code, verifier } = await authorize(user);
      const withInfo = await redeem(code, verifier, { client_info: '1' });
      const info = JSON.parse(Buffer.from(String(withInfo.body.client_info), 'base64url').toString('utf8'));
      assert.deepEqual(info, { uid: user.id, utid: DEMO_IDS.contosoTenantId });
    });

    it('signs id_tokens with RS256 keys from the JWKS, with the v2 claims', async () => {
      const user = newUser();
      const { code, verifier, sessionState } = await authorize(user, { nonce: 'nonce-1' });
      const { body } = await redeem(code, verifier);
      const issuer = `${emulator.url}/${DEMO_IDS.contosoTenantId}/v2.0`;
      const { payload, protectedHeader } = await jwtVerify(
        String(body.id_token),
        createLocalJWKSet(await jwks(DEMO_IDS.contosoTenantId)),
        { issuer, audience: emulator.seed.app.clientId, algorithms: ['RS256'], currentDate: emulator.ctx.clock.date() },
      );
      assert.equal(protectedHeader.typ, 'JWT');
      assert.ok(protectedHeader.kid);
      assert.equal(payload.tid, DEMO_IDS.contosoTenantId);
      assert.equal(payload.oid, user.id);
      assert.equal(payload.preferred_username, user.email);
      assert.equal(payload.name, user.displayName);
      assert.equal(payload.nonce, 'nonce-1');
      assert.equal(payload.ver, '2.0');
      assert.equal(payload.sid, sessionState);
      assert.equal(payload.email, undefined, 'email needs the email scope');
      assert.equal((payload.exp as number) - (payload.iat as number), 3600);
      assert.equal(payload.nbf, payload.iat);
      assert.ok(payload.uti && payload.aio && payload.rh);
      assert.match(String(payload.sub), /^[A-Za-z0-9_-]{43}$/);

      // sub is pairwise: stable for the app, different for another app.
      const again = decodeJwt(String((await connect(user)).body.id_token));
      assert.equal(again.sub, payload.sub);
      const other = addApp(emulator.ctx, {
        displayName: 'Other app',
        homeTenantId: DEMO_IDS.contosoTenantId,
        redirectUris: [emulator.redirectUri],
        secrets: [{ value: 'other-secret', expiresAt: emulator.ctx.clock.now() + DAY * 1000 }],
      });
      const otherCode = await authorize(user, { clientId: other.clientId });
      const otherAnswer = await token({
        grant_type: 'authorization_code',
        client_id: other.clientId,
        client_secret: 'other-secret',
        code: otherCode.code,
        redirect_uri: emulator.redirectUri,
        code_verifier: otherCode.verifier,
      });
      const otherSub = decodeJwt(String(otherAnswer.body.id_token)).sub;
      assert.notEqual(otherSub, payload.sub);
      assert.equal(decodeJwt(String(otherAnswer.body.id_token)).oid, user.id);
    });

    it("issues personal accounts' id_tokens under the consumer tenant, verifiable with the common key set", async () => {
      const user = newUser('personal');
      const { body } = await connect(user, 'openid profile email offline_access Mail.Send');
      const { payload } = await jwtVerify(String(body.id_token), createLocalJWKSet(await jwks('common')), {
        issuer: `${emulator.url}/${CONSUMER_TENANT_ID}/v2.0`,
        audience: emulator.seed.app.clientId,
        currentDate: emulator.ctx.clock.date(),
      });
      assert.equal(payload.tid, CONSUMER_TENANT_ID);
      assert.ok(payload.idp);
      assert.equal(payload.email, user.email);
      // Not verifiable with an organisation's key set.
      await assert.rejects(
        jwtVerify(String(body.id_token), createLocalJWKSet(await jwks(DEMO_IDS.contosoTenantId)), {
          currentDate: emulator.ctx.clock.date(),
        }),
      );
    });

    it('gives personal accounts an oid of their own form, client_info with it, and an opaque access token', async () => {
      const user = newUser('personal');
      const { code, verifier } = await authorize(user, { scope: 'openid profile offline_access Mail.Send' });
      const { body } = await redeem(code, verifier, { client_info: '1' });
      const claims = decodeJwt(String(body.id_token));
      // docs/entra.md §1.6: 00000000-0000-0000-xxxx-xxxxxxxxxxxx, as in MSAL's fixtures.
      assert.match(String(claims.oid), /^00000000-0000-0000-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.equal(claims.oid, user.id);
      // MSAL's home account id is uid.utid: the oid and the consumer tenant.
      const info = JSON.parse(Buffer.from(String(body.client_info), 'base64url').toString('utf8'));
      assert.deepEqual(info, { uid: user.id, utid: CONSUMER_TENANT_ID });
      // Not a JWT (no JWS/JWE segments): a client cannot read anything from it.
      assert.doesNotMatch(String(body.access_token), /\./);
      assert.throws(() => decodeJwt(String(body.access_token)));
    });

    it('makes codes single-use (AADSTS54005)', async () => {
      const { code, verifier } = await authorize(newUser());
      assert.equal((await redeem(code, verifier)).status, 200);
      assertAadError(await redeem(code, verifier), 400, 'invalid_grant', 54005);
    });

    it('expires codes after about ten minutes (AADSTS70008)', async () => {
      const { code, verifier } = await authorize(newUser());
      emulator.ctx.clock.advance(601);
      assertAadError(await redeem(code, verifier), 400, 'invalid_grant', 70008);
    });

    it('binds codes to the client, the redirect URI and the tenant segment', async () => {
      const user = newUser();
      const other = addApp(emulator.ctx, {
        displayName: 'Another client',
        homeTenantId: DEMO_IDS.contosoTenantId,
        redirectUris: [emulator.redirectUri],
        secrets: [{ value: 'another-secret', expiresAt: emulator.ctx.clock.now() + DAY * 1000 }],
      });
      const first = await authorize(user);
      assertAadError(
        await token({
          grant_type: 'authorization_code',
          client_id: other.clientId,
          client_secret: 'another-secret',
          code: first.code,
          redirect_uri: emulator.redirectUri,
          code_verifier: first.verifier,
        }),
        400,
        'invalid_grant',
        70000,
      );
      assertAadError(
        await redeem(first.code, first.verifier, { redirect_uri: `${emulator.redirectUri}/other` }),
        400,
        'invalid_grant',
        70000,
      );
      assertAadError(await redeem(first.code, first.verifier, {}, 'organizations'), 400, 'invalid_grant', 700005);
      // None of those attempts spent the code.
      assert.equal((await redeem(first.code, first.verifier)).status, 200);
    });

    it('checks PKCE: S256 and plain challenges, a wrong or missing verifier is AADSTS501481', async () => {
      const user = newUser();
      const s256 = await authorize(user);
      assertAadError(await redeem(s256.code, 'x'.repeat(43)), 400, 'invalid_grant', 501481);
      assertAadError(
        await token({ grant_type: 'authorization_code', code: s256.code, redirect_uri: emulator.redirectUri }),
        400,
        'invalid_grant',
        501481,
      );
      assert.equal((await redeem(s256.code, s256.verifier)).status, 200);
      const plain = await authorize(user, { pkce: 'plain' });
      assertAadError(
        await redeem(plain.code, createHash('sha256').update(plain.verifier).digest('base64url')),
        400,
        'invalid_grant',
        501481,
      );
      assert.equal((await redeem(plain.code, plain.verifier)).status, 200);
      const none = await authorize(user, { pkce: 'none' });
      assert.equal(
        (await token({ grant_type: 'authorization_code', code: none.code, redirect_uri: emulator.redirectUri })).status,
        200,
      );
    });
  });

  describe('client authentication', () => {
    it('accepts client_secret_basic with form-url-encoded credentials (RFC 6749 §2.3.1)', async () => {
      const secret = 'a b+c:d~e%f&g';
      const app = addApp(emulator.ctx, {
        displayName: 'Basic auth app',
        homeTenantId: DEMO_IDS.contosoTenantId,
        redirectUris: [emulator.redirectUri],
        secrets: [{ value: secret, expiresAt: emulator.ctx.clock.now() + DAY * 1000 }],
      });
      const { code, verifier } = await authorize(newUser(), { clientId: app.clientId });
      const answer = await token(
        { grant_type: 'authorization_code', code, redirect_uri: emulator.redirectUri, code_verifier: verifier },
        { basic: { id: app.clientId, secret } },
      );
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
    });

    it('answers an unknown app with AADSTS700016 (unauthorized_client, 400)', async () => {
      assertAadError(
        await token({
          grant_type: 'refresh_token',
          refresh_token: 'x',
          client_id: '00000000-0000-0000-0000-0000000000aa',
        }),
        400,
        'unauthorized_client',
        700016,
      );
    });

    it('answers a wrong secret with 7000215 and an expired one with 7000222 (invalid_client, 401)', async () => {
      assertAadError(
        await token({ grant_type: 'refresh_token', refresh_token: 'x', client_secret: 'wrong' }),
        401,
        'invalid_client',
        7000215,
      );
      const app = addApp(emulator.ctx, {
        displayName: 'Expired secret app',
        homeTenantId: DEMO_IDS.contosoTenantId,
        redirectUris: [emulator.redirectUri],
        secrets: [{ value: 'old-secret', expiresAt: emulator.ctx.clock.now() - 1000 }],
      });
      assertAadError(
        await token({
          grant_type: 'refresh_token',
          refresh_token: 'x',
          client_id: app.clientId,
          client_secret: 'old-secret',
        }),
        401,
        'invalid_client',
        7000222,
      );
      assertAadError(
        await token(
          { grant_type: 'refresh_token', refresh_token: 'x', client_id: app.clientId },
          { withSecret: false },
        ),
        401,
        'invalid_client',
        7000218,
      );
    });

    it('refuses a secret from a public client (AADSTS700025)', async () => {
      const app = addApp(emulator.ctx, {
        displayName: 'Public client',
        homeTenantId: DEMO_IDS.contosoTenantId,
        redirectUris: [emulator.redirectUri],
        publicClient: true,
      });
      assertAadError(
        await token({ grant_type: 'refresh_token', refresh_token: 'x', client_id: app.clientId, client_secret: 's' }),
        401,
        'invalid_client',
        700025,
      );
    });

    it('answers protocol mistakes: no grant_type, an unsupported one, GET, an unknown tenant', async () => {
      assertAadError(await token({}), 400, 'invalid_request', 900144);
      assertAadError(await token({ grant_type: 'password' }), 400, 'unsupported_grant_type', 70003);
      const get = await fetch(`${emulator.url}/common/oauth2/v2.0/token`);
      assert.equal(get.status, 400);
      assert.deepEqual(((await get.json()) as { error_codes: number[] }).error_codes, [900561]);
      assertAadError(
        await token({ grant_type: 'refresh_token' }, { tenant: 'nowhere.example' }),
        400,
        'invalid_request',
        90002,
      );
    });
  });

  describe('refresh_token grant', () => {
    it('returns a new refresh token each time; the old one keeps working', async () => {
      const { body } = await connect(newUser());
      const first = String(body.refresh_token);
      const second = await refresh(first);
      assert.equal(second.status, 200);
      assert.ok(second.body.refresh_token);
      assert.notEqual(second.body.refresh_token, first);
      assert.ok(second.body.id_token, 'openid was in the grant');
      assert.equal(second.body.scope, 'User.Read Mail.Send profile openid email');
      assert.equal((await refresh(first)).status, 200, 'the old refresh token is not revoked');
      assert.equal((await refresh(String(second.body.refresh_token))).status, 200);
    });

    it('expires a refresh token after 90 days unused; each refresh starts a new window (AADSTS700082)', async () => {
      const { body } = await connect(newUser());
      const first = String(body.refresh_token);
      emulator.ctx.clock.advance(60 * DAY);
      const second = String((await refresh(first)).body.refresh_token);
      emulator.ctx.clock.advance(31 * DAY);
      const expired = await refresh(first);
      assertAadError(expired, 400, 'invalid_grant', 700082, 'bad_token');
      assert.match(String(expired.body.error_description), /was inactive for 90\.00:00:00\./);
      assert.equal((await refresh(second)).status, 200, 'the newer token is still inside its own window');
    });

    it('revokes refresh tokens after a password change or "revoke sessions" (AADSTS50173)', async () => {
      const user = newUser();
      const { body } = await connect(user);
      emulator.ctx.clock.advance(5);
      user.tokensValidFrom = emulator.ctx.clock.now();
      const answer = await refresh(String(body.refresh_token));
      assertAadError(answer, 400, 'invalid_grant', 50173);
      assert.match(String(answer.body.error_description), /The grant was issued on '.+' and the TokensValidFrom date/);
    });

    it('answers a revoked consent with AADSTS65001 (invalid_grant, suberror consent_required)', async () => {
      const user = newUser();
      const { body } = await connect(user);
      delete emulator.ctx.world.consents[`${user.id}|${emulator.seed.app.clientId}`];
      assertAadError(await refresh(String(body.refresh_token)), 400, 'invalid_grant', 65001, 'consent_required');
    });

    it('demands MFA with AADSTS50076 (suberror basic_action) and a claims challenge', async () => {
      const user = newUser();
      const { body } = await connect(user);
      emulator.ctx.clock.advance(5);
      user.mfaRequiredFrom = emulator.ctx.clock.now();
      const answer = await refresh(String(body.refresh_token));
      assertAadError(answer, 400, 'invalid_grant', 50076, 'basic_action');
      const claims = JSON.parse(String(answer.body.claims)) as { access_token: { capolids: { values: string[] } } };
      assert.equal(claims.access_token.capolids.values.length, 1);
    });

    it('refuses a disabled user (50057) and a Conditional Access block (53003)', async () => {
      const user = newUser();
      const { body } = await connect(user);
      user.disabled = true;
      assertAadError(await refresh(String(body.refresh_token)), 400, 'invalid_grant', 50057);
      user.disabled = false;
      user.conditionalAccessBlocked = true;
      const blocked = await refresh(String(body.refresh_token));
      assertAadError(blocked, 400, 'invalid_grant', 53003, 'message_only');
      assert.ok(JSON.parse(String(blocked.body.claims)).access_token.capolids);
      user.conditionalAccessBlocked = false;
      assert.equal((await refresh(String(body.refresh_token))).status, 200);
    });

    it('answers a garbled refresh token with AADSTS9002313 (suberror bad_token)', async () => {
      assertAadError(await refresh('M.C5garbage'), 400, 'invalid_grant', 9002313, 'bad_token');
    });

    it("refuses another client's refresh token", async () => {
      const { body } = await connect(newUser());
      const other = addApp(emulator.ctx, {
        displayName: 'Thief',
        homeTenantId: DEMO_IDS.contosoTenantId,
        redirectUris: [emulator.redirectUri],
        secrets: [{ value: 'thief-secret', expiresAt: emulator.ctx.clock.now() + DAY * 1000 }],
      });
      assertAadError(
        await refresh(String(body.refresh_token), { client_id: other.clientId, client_secret: 'thief-secret' }),
        400,
        'invalid_grant',
        70000,
        'client_mismatch',
      );
    });

    it('narrows to a requested subset, and refuses unknown or unconsented scopes', async () => {
      const { body } = await connect(newUser());
      const narrowed = await refresh(String(body.refresh_token), {
        scope: 'https://graph.microsoft.com/Mail.Send offline_access',
      });
      assert.equal(narrowed.status, 200);
      assert.equal(narrowed.body.scope, 'Mail.Send');
      assert.equal(narrowed.body.id_token, undefined);
      assert.ok(narrowed.body.refresh_token);
      assertAadError(await refresh(String(body.refresh_token), { scope: 'Mail.Nope' }), 400, 'invalid_scope', 70011);
      assertAadError(
        await refresh(String(body.refresh_token), { scope: 'Mail.ReadWrite' }),
        400,
        'invalid_grant',
        65001,
        'consent_required',
      );
    });
  });

  describe('injected faults', () => {
    it('answers 429 with Retry-After from the token endpoint once, then works', async () => {
      const user = newUser();
      const { body } = await connect(user);
      emulator.ctx.faults.push({
        id: 'token-throttle',
        userId: user.id,
        target: 'token',
        kind: 'throttle429',
        retryAfterSeconds: 3,
        latencyMs: null,
        remaining: 1,
        probability: 1,
      });
      const throttled = await refresh(String(body.refresh_token));
      assert.equal(throttled.status, 429);
      assert.equal(throttled.headers.get('retry-after'), '3');
      assert.equal(throttled.body.error, 'temporarily_unavailable');
      assert.equal((await refresh(String(body.refresh_token))).status, 200);
    });

    it('answers a token request with AADSTS50196 and HTTP 400 under a requestLoop fault, then works', async () => {
      const user = newUser();
      const { body } = await connect(user);
      const added = await fetch(`${emulator.url}/_emulator/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'requestLoop', target: 'token', email: user.email, count: 1 }),
      });
      assert.equal(added.status, 201);
      const looped = await refresh(String(body.refresh_token));
      // docs/graph.md §3.3: 400, not 429, and no Retry-After.
      assertAadError(looped, 400, 'invalid_request', 50196);
      assert.equal(looped.headers.get('retry-after'), null);
      assert.equal((await refresh(String(body.refresh_token))).status, 200);
      // Only the token endpoint throttles this way.
      const onGraph = await fetch(`${emulator.url}/_emulator/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'requestLoop', target: 'graph' }),
      });
      assert.equal(onGraph.status, 400);
      assert.equal(((await onGraph.json()) as { error: { code: string } }).error.code, 'CONTROL_INVALID_REQUEST');
    });

    it('drops the connection after issuing tokens with timeoutAfterAccept', async () => {
      const user = newUser();
      const { code, verifier } = await authorize(user);
      emulator.ctx.faults.push({
        id: 'token-timeout',
        userId: user.id,
        target: 'token',
        kind: 'timeoutAfterAccept',
        retryAfterSeconds: null,
        latencyMs: null,
        remaining: 1,
        probability: 1,
      });
      await assert.rejects(redeem(code, verifier));
      assertAadError(await redeem(code, verifier), 400, 'invalid_grant', 54005);
    });
  });
});
