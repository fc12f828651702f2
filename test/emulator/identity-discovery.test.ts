import assert from 'node:assert/strict';
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CONSUMER_TENANT_ID } from '../../emulator/state/model.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';

const CONTOSO = '72f988bf-86f1-41af-91ab-2d7cd011db47';

interface Jwk {
  kty: string;
  use: string;
  kid: string;
  x5t: string;
  n: string;
  e: string;
  x5c: string[];
  issuer: string;
}

describe('identity discovery and keys', () => {
  let emulator: SeededEmulator;
  before(async () => {
    emulator = await startSeededEmulator();
  });
  after(() => emulator.close());

  async function discovery(tenant: string) {
    const response = await fetch(`${emulator.url}/${tenant}/v2.0/.well-known/openid-configuration`);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it('publishes the issuer template on common and organizations, with endpoints under the alias', async () => {
    for (const tenant of ['common', 'organizations']) {
      const { status, body } = await discovery(tenant);
      assert.equal(status, 200);
      assert.equal(body.issuer, `${emulator.url}/{tenantid}/v2.0`);
      assert.equal(body.authorization_endpoint, `${emulator.url}/${tenant}/oauth2/v2.0/authorize`);
      assert.equal(body.token_endpoint, `${emulator.url}/${tenant}/oauth2/v2.0/token`);
      assert.equal(body.jwks_uri, `${emulator.url}/${tenant}/discovery/v2.0/keys`);
      assert.equal(body.end_session_endpoint, `${emulator.url}/${tenant}/oauth2/v2.0/logout`);
      assert.equal(body.userinfo_endpoint, `${emulator.url}/oidc/userinfo`);
      assert.deepEqual(body.token_endpoint_auth_methods_supported, [
        'client_secret_post',
        'private_key_jwt',
        'client_secret_basic',
      ]);
      assert.deepEqual(body.response_modes_supported, ['query', 'fragment', 'form_post']);
      assert.deepEqual(body.subject_types_supported, ['pairwise']);
      assert.deepEqual(body.id_token_signing_alg_values_supported, ['RS256']);
      assert.deepEqual(body.scopes_supported, ['openid', 'profile', 'email', 'offline_access']);
      assert.ok((body.claims_supported as string[]).includes('tid'));
      assert.equal(body.code_challenge_methods_supported, undefined, 'Microsoft does not advertise PKCE');
    }
  });

  it("gives consumers the consumer tenant's issuer and a tenant its GUID, also when named by domain", async () => {
    assert.equal((await discovery('consumers')).body.issuer, `${emulator.url}/${CONSUMER_TENANT_ID}/v2.0`);
    assert.equal((await discovery(CONSUMER_TENANT_ID)).body.issuer, `${emulator.url}/${CONSUMER_TENANT_ID}/v2.0`);
    for (const tenant of [CONTOSO, 'contoso.onmicrosoft.com', 'contoso.com']) {
      const { body } = await discovery(tenant);
      assert.equal(body.issuer, `${emulator.url}/${CONTOSO}/v2.0`);
      assert.equal(body.token_endpoint, `${emulator.url}/${CONTOSO}/oauth2/v2.0/token`);
    }
  });

  it('answers an unknown tenant with AADSTS90002 as a 400 JSON error', async () => {
    const { status, body } = await discovery('nowhere.example');
    assert.equal(status, 400);
    assert.equal(body.error, 'invalid_tenant');
    assert.deepEqual(body.error_codes, [90002]);
    assert.match(String(body.error_description), /^AADSTS90002: Tenant 'nowhere\.example' not found\./);
    assert.match(
      String(body.error_description),
      /\r\nTrace ID: .+\r\nCorrelation ID: .+\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/,
    );
    assert.equal(body.error_uri, `${emulator.url}/error?code=90002`);
    const keys = await fetch(`${emulator.url}/nowhere.example/discovery/v2.0/keys`);
    assert.equal(keys.status, 400);
  });

  it('publishes RS256 keys whose kid and x5t are the thumbprint of a certificate for the same key', async () => {
    const response = await fetch(`${emulator.url}/common/discovery/v2.0/keys`);
    assert.equal(response.status, 200);
    const { keys } = (await response.json()) as { keys: Jwk[] };
    assert.equal(keys.length, 2);
    for (const key of keys) {
      assert.equal(key.kty, 'RSA');
      assert.equal(key.use, 'sig');
      const der = Buffer.from(key.x5c[0]!, 'base64');
      assert.equal(key.x5t, createHash('sha1').update(der).digest('base64url'));
      assert.equal(key.kid, key.x5t);
      const certificate = new X509Certificate(der);
      const publicKey = createPublicKey({ key: { kty: 'RSA', n: key.n, e: key.e }, format: 'jwk' });
      assert.ok(certificate.verify(publicKey), 'self-signed with the published key');
      assert.equal(certificate.publicKey.export({ format: 'jwk' }).n, key.n);
    }
    // On common each key names its issuer: the template for organisations, the consumer tenant for MSAs.
    assert.deepEqual(keys.map((key) => key.issuer).sort(), [
      `${emulator.url}/${CONSUMER_TENANT_ID}/v2.0`,
      `${emulator.url}/{tenantid}/v2.0`,
    ]);
  });

  it("serves a tenant only the organisations' key, with that tenant's issuer", async () => {
    const common = ((await (await fetch(`${emulator.url}/common/discovery/v2.0/keys`)).json()) as { keys: Jwk[] }).keys;
    const tenant = ((await (await fetch(`${emulator.url}/${CONTOSO}/discovery/v2.0/keys`)).json()) as { keys: Jwk[] })
      .keys;
    assert.equal(tenant.length, 1);
    assert.equal(tenant[0]!.issuer, `${emulator.url}/${CONTOSO}/v2.0`);
    assert.equal(tenant[0]!.kid, common.find((key) => key.issuer.includes('{tenantid}'))!.kid);
    const consumers = ((await (await fetch(`${emulator.url}/consumers/discovery/v2.0/keys`)).json()) as { keys: Jwk[] })
      .keys;
    assert.deepEqual(
      consumers.map((key) => key.issuer),
      [`${emulator.url}/${CONSUMER_TENANT_ID}/v2.0`],
    );
  });

  it("answers MSAL's instance discovery with the emulator's host", async () => {
    const authorizationEndpoint = encodeURIComponent(`${emulator.url}/${CONTOSO}/oauth2/v2.0/authorize`);
    const response = await fetch(
      `${emulator.url}/common/discovery/instance?api-version=1.1&authorization_endpoint=${authorizationEndpoint}`,
    );
    const body = (await response.json()) as {
      tenant_discovery_endpoint: string;
      metadata: Array<{ aliases: string[] }>;
    };
    assert.equal(body.tenant_discovery_endpoint, `${emulator.url}/${CONTOSO}/v2.0/.well-known/openid-configuration`);
    assert.deepEqual(body.metadata[0]!.aliases, [new URL(emulator.url).host]);
  });

  it('serves the error lookup page that error_uri points at', async () => {
    const response = await fetch(`${emulator.url}/error?code=50173`);
    assert.equal(response.status, 200);
    assert.match(await response.text(), /AADSTS50173/);
  });
});
