import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { SignInDriver } from '../../emulator/identity/sign-in-driver.js';
import { DEMO_IDS, DEMO_PASSWORD } from '../../emulator/index.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { callGraph, errorOf } from '../support/graph-token.js';

/**
 * Conformance (docs/conformance.md, issue 2) the way a host-app developer meets it: every change goes through the
 * control API over HTTP, every effect is observed where a client would see it (the token endpoint, the
 * authorize pages, Graph). The modules' own tests change the world directly and assert each side separately;
 * these tests hold the two ends together.
 */

const SCOPE = 'openid profile offline_access User.Read Mail.Send';
const DAY = 86_400;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

function assertAadError(answer: Answer, status: number, error: string, code: number, suberror?: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.error, error);
  assert.deepEqual(answer.body.error_codes, [code]);
  assert.match(String(answer.body.error_description), new RegExp(`^AADSTS${code}: .+\\r\\nTrace ID: `));
  assert.equal(answer.body.suberror, suberror);
}

/** A host app of the emulator: its registration, a secret, and the calls it makes. */
class HostApp {
  constructor(
    readonly emulator: SeededEmulator,
    readonly clientId: string,
    public secret: string,
  ) {}

  async control(method: string, path: string, body?: unknown): Promise<Answer> {
    const response = await fetch(`${this.emulator.url}/_emulator${path}`, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  }

  async controlOrThrow(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const answer = await this.control(method, path, body);
    assert.ok(answer.status < 300, `${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  authorizeUrl(options: { scope?: string; challenge?: string; tenant?: string; redirectUri?: string } = {}): string {
    const params: Record<string, string> = {
      client_id: this.clientId,
      response_type: 'code',
      redirect_uri: options.redirectUri ?? this.emulator.redirectUri,
      scope: options.scope ?? SCOPE,
      state: 'conformance',
    };
    if (options.challenge) {
      params.code_challenge = options.challenge;
      params.code_challenge_method = 'S256';
    }
    return `${this.emulator.url}/${options.tenant ?? 'organizations'}/oauth2/v2.0/authorize?${new URLSearchParams(params)}`;
  }

  async token(fields: Record<string, string>, tenant = 'organizations'): Promise<Answer> {
    const response = await fetch(`${this.emulator.url}/${tenant}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: this.clientId, client_secret: this.secret, ...fields }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** Signs `email` in through the pages (PKCE S256, consent accepted) and redeems the code. */
  async connect(email: string, options: { password?: string; scope?: string; tenant?: string } = {}) {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const callback = await new SignInDriver().signIn(
      this.authorizeUrl({ challenge, ...(options.scope ? { scope: options.scope } : {}), tenant: options.tenant }),
      { email, password: options.password ?? DEMO_PASSWORD },
    );
    const code = callback.params.get('code');
    assert.ok(code, `no code: ${callback.params.get('error_description')}`);
    const answer = await this.token(
      { grant_type: 'authorization_code', code, redirect_uri: this.emulator.redirectUri, code_verifier: verifier },
      options.tenant,
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body as { access_token: string; refresh_token: string; id_token?: string; expires_in: number };
  }

  refresh(refreshToken: string): Promise<Answer> {
    return this.token({ grant_type: 'refresh_token', refresh_token: refreshToken });
  }
}

let userCounter = 0;

async function newWorkUser(app: HostApp): Promise<string> {
  userCounter++;
  const email = `conformance${userCounter}@contoso.com`;
  await app.controlOrThrow('POST', '/users', {
    email,
    password: DEMO_PASSWORD,
    displayName: `Conf User${userCounter}`,
  });
  return email;
}

async function keysOf(tenant: string): Promise<JSONWebKeySet> {
  return (await (await fetch(`${currentUrl}/${tenant}/discovery/v2.0/keys`)).json()) as JSONWebKeySet;
}

let currentUrl = '';

describe('conformance: control API actions reach the token endpoint, the pages and Graph', () => {
  let emulator: SeededEmulator;
  let app: HostApp;
  before(async () => {
    emulator = await startSeededEmulator();
    currentUrl = emulator.url;
    app = new HostApp(emulator, DEMO_IDS.clientId, emulator.clientSecret);
  });
  after(() => emulator.close());

  it('an admin password reset and "revoke sessions" revoke refresh tokens (AADSTS50173); a user change spares confidential clients', async () => {
    const email = await newWorkUser(app);
    const reset = await app.connect(email);
    await app.controlOrThrow('POST', `/users/${email}/password`, { password: 'reset-by-admin-1' });
    assertAadError(await app.refresh(reset.refresh_token), 400, 'invalid_grant', 50173);
    // The user signs in again with the new password and the app is connected again.
    const again = await app.connect(email, { password: 'reset-by-admin-1' });
    assert.equal((await app.refresh(again.refresh_token)).status, 200);

    const selfChanged = await newWorkUser(app);
    const kept = await app.connect(selfChanged);
    await app.controlOrThrow('POST', `/users/${selfChanged}/password`, { password: 'changed-by-me-1', by: 'user' });
    assert.equal((await app.refresh(kept.refresh_token)).status, 200, 'a confidential client keeps its grant');

    const revoked = await newWorkUser(app);
    const tokens = await app.connect(revoked);
    await app.controlOrThrow('POST', `/users/${revoked}/revoke-sessions`);
    assertAadError(await app.refresh(tokens.refresh_token), 400, 'invalid_grant', 50173);
    // Access tokens already issued live on (Microsoft cannot recall them) …
    assert.equal((await callGraph(emulator.url, tokens.access_token, 'GET', '/me')).status, 200);
    // … unless the emulator is told to stand in for Continuous Access Evaluation.
    await app.controlOrThrow('POST', `/users/${revoked}/revoke-sessions`, { revokeAccessTokens: true });
    const refused = await callGraph(emulator.url, tokens.access_token, 'GET', '/me');
    assert.equal(refused.status, 401);
    assert.equal(errorOf(refused).code, 'InvalidAuthenticationToken');
  });

  it('a revoked consent answers AADSTS65001 with suberror consent_required; connecting again asks for consent', async () => {
    const email = await newWorkUser(app);
    const tokens = await app.connect(email);
    await app.controlOrThrow('DELETE', `/users/${email}/consents/${DEMO_IDS.clientId}`);
    assertAadError(await app.refresh(tokens.refresh_token), 400, 'invalid_grant', 65001, 'consent_required');
    const driver = new SignInDriver();
    const page = await driver.open(app.authorizeUrl());
    assert.equal(page.kind, 'page');
    const consent = await driver.submit(page as Extract<typeof page, { kind: 'page' }>, {
      login: email,
      passwd: DEMO_PASSWORD,
      action: 'sign-in',
    });
    assert.equal(consent.kind, 'page');
    assert.match((consent as { html: string }).html, /id="permissions"/, 'the consent page comes back');
  });

  it('disabling a user (50057), demanding MFA (50076) and a Conditional Access block (53003) reach the refresh', async () => {
    const email = await newWorkUser(app);
    const tokens = await app.connect(email);

    await app.controlOrThrow('PATCH', `/users/${email}`, { disabled: true });
    assertAadError(await app.refresh(tokens.refresh_token), 400, 'invalid_grant', 50057);
    assert.equal((await callGraph(emulator.url, tokens.access_token, 'GET', '/me')).status, 401);
    await app.controlOrThrow('PATCH', `/users/${email}`, { disabled: false });

    await app.controlOrThrow('PATCH', `/users/${email}`, { mfaRequired: true });
    const mfa = await app.refresh(tokens.refresh_token);
    assertAadError(mfa, 400, 'invalid_grant', 50076, 'basic_action');
    assert.ok(JSON.parse(String(mfa.body.claims)).access_token.capolids, 'a claims challenge names the policy');
    await app.controlOrThrow('PATCH', `/users/${email}`, { mfaRequired: false });

    await app.controlOrThrow('PATCH', `/users/${email}`, { conditionalAccessBlocked: true });
    assertAadError(await app.refresh(tokens.refresh_token), 400, 'invalid_grant', 53003, 'message_only');
    await app.controlOrThrow('PATCH', `/users/${email}`, { conditionalAccessBlocked: false });

    assert.equal((await app.refresh(tokens.refresh_token)).status, 200, 'lifting every block restores the grant');
  });

  it('client secrets: expired is 7000222, unknown is 7000215 (401 invalid_client); rotating keeps every grant', async () => {
    const registered = await app.controlOrThrow('POST', '/apps', {
      displayName: 'Secret rotation',
      homeTenant: 'contoso.com',
      redirectUris: [emulator.redirectUri],
      signInAudience: 'AzureADMultipleOrgs',
      secret: {},
    });
    const created = registered.createdSecret as { id: string; value: string };
    const own = new HostApp(emulator, String(registered.clientId), created.value);
    const tokens = await own.connect(await newWorkUser(own));

    await own.controlOrThrow('POST', `/apps/${own.clientId}/secrets/${created.id}/expire`);
    assertAadError(await own.refresh(tokens.refresh_token), 401, 'invalid_client', 7000222);

    const next = await own.controlOrThrow('POST', `/apps/${own.clientId}/secrets`, { expiresInSeconds: 30 * DAY });
    own.secret = 'not-the-secret';
    assertAadError(await own.refresh(tokens.refresh_token), 401, 'invalid_client', 7000215);
    own.secret = String(next.value);
    assert.equal((await own.refresh(tokens.refresh_token)).status, 200, 'the user was never disconnected');

    await own.controlOrThrow('DELETE', `/apps/${own.clientId}/secrets/${String(next.id)}`);
    assertAadError(await own.refresh(tokens.refresh_token), 401, 'invalid_client', 7000215);
  });

  it('a deleted registration is AADSTS700016 at the token endpoint and an error page, never a redirect, at authorize', async () => {
    const registered = await app.controlOrThrow('POST', '/apps', {
      displayName: 'Soon gone',
      homeTenant: 'contoso.com',
      redirectUris: [emulator.redirectUri],
      secret: {},
    });
    const gone = new HostApp(
      emulator,
      String(registered.clientId),
      (registered.createdSecret as { value: string }).value,
    );
    const tokens = await gone.connect(await newWorkUser(gone));
    await gone.controlOrThrow('DELETE', `/apps/${gone.clientId}`);
    assertAadError(await gone.refresh(tokens.refresh_token), 400, 'unauthorized_client', 700016);
    const page = await fetch(gone.authorizeUrl(), { redirect: 'manual' });
    assert.equal(page.headers.get('location'), null);
    assert.match(await page.text(), /id="error-code" data-aadsts="700016"/);
  });

  it('a redirect URI removed from the registration is AADSTS50011 on the error page, never a redirect', async () => {
    const registered = await app.controlOrThrow('POST', '/apps', {
      displayName: 'Moved',
      homeTenant: 'contoso.com',
      redirectUris: [emulator.redirectUri],
    });
    const moved = new HostApp(emulator, String(registered.clientId), '');
    await moved.controlOrThrow('PATCH', `/apps/${moved.clientId}`, { redirectUris: ['https://elsewhere.example/cb'] });
    const page = await fetch(moved.authorizeUrl(), { redirect: 'manual' });
    assert.equal(page.headers.get('location'), null);
    assert.match(await page.text(), /id="error-code" data-aadsts="50011"/);
  });

  it('admin approval: the request made on the page is listed, approved through the control API, and the user connects', async () => {
    const lee = emulator.seed.users.approvalRequired;
    const blocked = await new SignInDriver().signIn(app.authorizeUrl(), {
      email: lee.email,
      password: DEMO_PASSWORD,
      approval: 'request',
      justification: 'Weekly reports to customers',
    });
    assert.equal(blocked.params.get('error'), 'access_denied');
    assert.match(blocked.params.get('error_description') ?? '', /^AADSTS90095: /);

    const pending = (await app.controlOrThrow('GET', '/admin-approval-requests?status=pending&tenant=fabrikam.com'))
      .requests as Array<{ id: string; userId: string; justification: string; scopes: string[] }>;
    const request = pending.find((each) => each.userId === lee.id);
    assert.ok(request, JSON.stringify(pending));
    assert.equal(request.justification, 'Weekly reports to customers');
    assert.ok(request.scopes.includes('Mail.Send'));
    await app.controlOrThrow('POST', `/admin-approval-requests/${request.id}/approve`);

    // Tenant-wide consent now covers the app: no consent page, a code straight away.
    const tokens = await app.connect(lee.email);
    assert.equal((await app.refresh(tokens.refresh_token)).status, 200);
    await app.controlOrThrow('DELETE', `/tenants/fabrikam.com/admin-consents/${DEMO_IDS.clientId}`);
    assertAadError(await app.refresh(tokens.refresh_token), 400, 'invalid_grant', 65001, 'consent_required');
  });

  it('id_token claims follow the scopes: profile adds oid, preferred_username and name; email adds email', async () => {
    const email = await newWorkUser(app);
    const keys = (await (await fetch(`${emulator.url}/organizations/discovery/v2.0/keys`)).json()) as JSONWebKeySet;
    const claimsFor = async (scope: string) => {
      const tokens = await app.connect(email, { scope });
      const { payload, protectedHeader } = await jwtVerify(String(tokens.id_token), createLocalJWKSet(keys), {
        audience: DEMO_IDS.clientId,
        issuer: `${emulator.url}/${DEMO_IDS.contosoTenantId}/v2.0`,
      });
      assert.equal(protectedHeader.alg, 'RS256');
      return payload;
    };
    const bare = await claimsFor('openid offline_access Mail.Send');
    assert.equal(bare.tid, DEMO_IDS.contosoTenantId);
    assert.ok(bare.sub);
    for (const claim of ['oid', 'preferred_username', 'name', 'email']) assert.equal(bare[claim], undefined, claim);
    const profile = await claimsFor('openid profile offline_access Mail.Send');
    assert.match(String(profile.oid), /^[0-9a-f-]{36}$/);
    assert.equal(profile.preferred_username, email);
    assert.equal(profile.name, `Conf User${userCounter}`);
    assert.equal(profile.email, undefined);
    assert.equal(profile.sub, bare.sub, 'sub is pairwise per app, not per request');
    const withEmail = await claimsFor('openid profile email offline_access Mail.Send');
    assert.equal(withEmail.email, email);
  });
  it("serves discovery's userinfo_endpoint: openid-client's fetchUserInfo gets the ID token's sub, names and email", async () => {
    const email = await newWorkUser(app);
    const config = await oidc.discovery(
      new URL(`${emulator.url}/${DEMO_IDS.contosoTenantId}/v2.0`),
      DEMO_IDS.clientId,
      undefined,
      oidc.ClientSecretPost(emulator.clientSecret),
      { execute: [oidc.allowInsecureRequests] },
    );
    assert.equal(config.serverMetadata().userinfo_endpoint, `${emulator.url}/oidc/userinfo`);
    const tokens = await app.connect(email, { scope: 'openid profile email offline_access User.Read' });
    const subject = String(
      (await jwtVerify(String(tokens.id_token), createLocalJWKSet(await keysOf('organizations')))).payload.sub,
    );
    const info = await oidc.fetchUserInfo(config, tokens.access_token, subject);
    assert.equal(info.sub, subject);
    assert.equal(info.email, email);
    assert.equal(info.name, `Conf User${userCounter}`);
    assert.equal(info.given_name, 'Conf');

    const graphOnly = await app.connect(email, { scope: 'offline_access Mail.Send' });
    const refused = await fetch(`${emulator.url}/oidc/userinfo`, {
      headers: { authorization: `Bearer ${graphOnly.access_token}` },
    });
    assert.equal(refused.status, 403, 'userinfo needs the openid permission');
  });
});

describe('conformance: lifetimes on the emulator clock, moved through the control API', () => {
  let emulator: SeededEmulator;
  let app: HostApp;
  before(async () => {
    emulator = await startSeededEmulator();
    app = new HostApp(emulator, DEMO_IDS.clientId, emulator.clientSecret);
  });
  after(() => emulator.close());

  it('90 days of inactivity pass in milliseconds: the refresh token expires (AADSTS700082), its successor lives on', async () => {
    const email = await newWorkUser(app);
    const first = await app.connect(email);
    assert.ok(first.expires_in >= 3600 && first.expires_in <= 5400, String(first.expires_in));

    await app.controlOrThrow('POST', '/clock/advance', { days: 89 });
    const stale = await callGraph(emulator.url, first.access_token, 'GET', '/me');
    assert.equal(stale.status, 401, 'the access token expired long ago');
    assert.equal(errorOf(stale).message, 'Access token has expired or is not yet valid.');
    const refreshed = await app.refresh(first.refresh_token);
    assert.equal(refreshed.status, 200, 'used within 90 days');
    const second = String(refreshed.body.refresh_token);

    await app.controlOrThrow('POST', '/clock/advance', { days: 1, hours: 1 });
    const expired = await app.refresh(first.refresh_token);
    assertAadError(expired, 400, 'invalid_grant', 700082, 'bad_token');
    assert.match(String(expired.body.error_description), /was inactive for 90\.00:00:00\./);
    assert.equal((await app.refresh(second)).status, 200, 'the newer token has its own 90 days');

    await app.controlOrThrow('POST', '/clock/advance', { days: 91 });
    assertAadError(await app.refresh(second), 400, 'invalid_grant', 700082, 'bad_token');
  });

  it('lifetimes set through PATCH /_emulator/settings: access tokens, codes', async () => {
    await app.controlOrThrow('PATCH', '/settings', {
      accessTokenLifetimeSeconds: { min: 600, max: 600 },
      authorizationCodeLifetimeSeconds: 60,
    });
    try {
      const email = await newWorkUser(app);
      const tokens = await app.connect(email);
      assert.equal(tokens.expires_in, 600);

      const verifier = randomBytes(32).toString('base64url');
      const callback = await new SignInDriver().signIn(
        app.authorizeUrl({ challenge: createHash('sha256').update(verifier).digest('base64url') }),
        { email, password: DEMO_PASSWORD },
      );
      await app.controlOrThrow('POST', '/clock/advance', { seconds: 61 });
      const late = await app.token({
        grant_type: 'authorization_code',
        code: callback.params.get('code') ?? '',
        redirect_uri: emulator.redirectUri,
        code_verifier: verifier,
      });
      assertAadError(late, 400, 'invalid_grant', 70008);
    } finally {
      await app.controlOrThrow('PATCH', '/settings', {
        accessTokenLifetimeSeconds: { min: 3600, max: 5400 },
        authorizationCodeLifetimeSeconds: 600,
      });
    }
  });
});
