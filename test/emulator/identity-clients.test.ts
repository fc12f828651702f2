import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfidentialClientApplication, type INetworkModule, type NetworkResponse } from '@azure/msal-node';
import * as oidc from 'openid-client';
import { SignInDriver } from '../../emulator/identity/sign-in-driver.js';
import { DEMO_IDS, DEMO_PASSWORD } from '../../emulator/index.js';
import { CONSUMER_TENANT_ID, type User } from '../../emulator/state/model.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';

/**
 * Real, unmodified Microsoft clients against the emulator (docs/entra.md §4): openid-client with the emulator as
 * its own issuer, openid-client and MSAL Node with the emulator standing in for https://login.microsoftonline.com
 * (their requests routed to it, as a client's `customFetch` / `networkClient` would).
 */

const MICROSOFT_LOGIN = 'https://login.microsoftonline.com';

describe('real OAuth clients against the emulator', () => {
  describe('openid-client with the emulator as its own issuer', () => {
    let emulator: SeededEmulator;
    before(async () => {
      emulator = await startSeededEmulator();
    });
    after(() => emulator.close());

    it('discovers a tenant, runs the code flow with PKCE and nonce, validates the id_token, refreshes', async () => {
      const config = await oidc.discovery(
        new URL(`${emulator.url}/${DEMO_IDS.contosoTenantId}/v2.0`),
        DEMO_IDS.clientId,
        undefined,
        oidc.ClientSecretBasic(emulator.clientSecret),
        { execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks] },
      );
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: emulator.redirectUri,
        scope: 'openid profile email offline_access User.Read Mail.Send',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      const callback = await new SignInDriver().signIn(url.href, {
        email: emulator.seed.users.work.email,
        password: DEMO_PASSWORD,
      });
      const tokens = await oidc.authorizationCodeGrant(config, new URL(`${callback.url}?${callback.params}`), {
        pkceCodeVerifier: verifier,
        expectedState: state,
        expectedNonce: nonce,
      });
      const claims = tokens.claims();
      assert.equal(claims?.oid, emulator.seed.users.work.id);
      assert.equal(claims?.tid, DEMO_IDS.contosoTenantId);
      assert.equal(claims?.email, emulator.seed.users.work.email);
      assert.ok(tokens.refresh_token);
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
      assert.ok(refreshed.access_token);
      assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    });
  });

  describe('with the emulator standing in for login.microsoftonline.com', () => {
    let emulator: SeededEmulator;
    before(async () => {
      emulator = await startSeededEmulator({ urls: { login: MICROSOFT_LOGIN } });
    });
    after(() => emulator.close());

    /** Sends what a client addresses to Microsoft's login host to the emulator instead. */
    function routed(url: string): string {
      return url.startsWith(MICROSOFT_LOGIN) ? `${emulator.url}${url.slice(MICROSOFT_LOGIN.length)}` : url;
    }

    it("openid-client on common checks the issuer through Microsoft's {tenantid} template", async () => {
      const config = await oidc.discovery(
        new URL(`${MICROSOFT_LOGIN}/common/v2.0`),
        DEMO_IDS.clientId,
        emulator.clientSecret,
        undefined,
        { [oidc.customFetch]: (url: string, options: oidc.CustomFetchOptions) => fetch(routed(url), options) },
      );
      assert.equal(config.serverMetadata().issuer, `${MICROSOFT_LOGIN}/{tenantid}/v2.0`);
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: emulator.redirectUri,
        scope: 'openid profile offline_access Mail.Send',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: 'st',
      });
      const callback = await new SignInDriver().signIn(routed(url.href), {
        email: emulator.seed.users.personal.email,
        password: DEMO_PASSWORD,
      });
      const tokens = await oidc.authorizationCodeGrant(config, new URL(`${callback.url}?${callback.params}`), {
        pkceCodeVerifier: verifier,
        expectedState: 'st',
      });
      assert.equal(tokens.claims()?.iss, `${MICROSOFT_LOGIN}/${CONSUMER_TENANT_ID}/v2.0`);
    });

    /** Signs `user` in through MSAL Node (a `networkClient` routing Microsoft's login host), then refreshes silently. */
    async function msalConnectsAndRefreshes(user: User, tenant: string): Promise<void> {
      const networkClient: INetworkModule = {
        async sendGetRequestAsync<T>(url: string, options?: { headers?: Record<string, string> }) {
          const response = await fetch(routed(url), { headers: options?.headers });
          return toNetworkResponse<T>(response);
        },
        async sendPostRequestAsync<T>(url: string, options?: { headers?: Record<string, string>; body?: string }) {
          const response = await fetch(routed(url), { method: 'POST', headers: options?.headers, body: options?.body });
          return toNetworkResponse<T>(response);
        },
      };
      const msal = new ConfidentialClientApplication({
        auth: {
          clientId: DEMO_IDS.clientId,
          authority: `${MICROSOFT_LOGIN}/${tenant}`,
          clientSecret: emulator.clientSecret,
        },
        system: { networkClient },
      });
      const scopes = ['User.Read', 'Mail.Send'];
      const authUrl = await msal.getAuthCodeUrl({ scopes, redirectUri: emulator.redirectUri, state: 'msal-state' });
      const callback = await new SignInDriver().signIn(routed(authUrl), { email: user.email, password: DEMO_PASSWORD });
      const result = await msal.acquireTokenByCode({
        code: callback.params.get('code')!,
        scopes,
        redirectUri: emulator.redirectUri,
      });
      assert.ok(result.accessToken);
      // MSAL builds the home account id from client_info: uid.utid.
      assert.equal(result.account?.homeAccountId, `${user.id}.${tenant}`);
      assert.equal(result.account?.tenantId, tenant);
      assert.equal(result.idTokenClaims && (result.idTokenClaims as { oid?: string }).oid, user.id);
      const silent = await msal.acquireTokenSilent({ account: result.account!, scopes, forceRefresh: true });
      assert.ok(silent.accessToken);
      assert.notEqual(silent.accessToken, result.accessToken);
      assert.equal(silent.account?.homeAccountId, result.account?.homeAccountId);
    }

    it('MSAL Node redeems the code (needs client_info) and refreshes silently', async () => {
      await msalConnectsAndRefreshes(emulator.seed.users.work, DEMO_IDS.contosoTenantId);
    });

    it('MSAL Node signs in a personal account (client_info with its 00000000-… oid) and refreshes silently', async () => {
      const alex = emulator.seed.users.personal;
      assert.match(alex.id, /^00000000-0000-0000-[0-9a-f]{4}-[0-9a-f]{12}$/);
      await msalConnectsAndRefreshes(alex, CONSUMER_TENANT_ID);
    });
  });
});

async function toNetworkResponse<T>(response: Response): Promise<NetworkResponse<T>> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return { headers, body: (await response.json()) as T, status: response.status };
}
