import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { SignInDriver } from '../../emulator/identity/sign-in-driver.js';
import { createEmulatorContext, EmulatorClock, type RunningEmulator, startEmulator } from '../../emulator/index.js';
import { callGraph, valuesOf } from '../support/graph-token.js';

/**
 * Issue 2, "Deterministic under a seed": two emulators with the same seed, fed the same sequence of requests over
 * HTTP, answer with the same ids, secrets, codes, tokens, token lifetimes and junk verdicts; another seed answers
 * differently. The clocks are frozen at the same instant so that timestamps match too. The id_token signatures
 * are the one exception (signing keys are fresh RSA keys, not derived from the seed), so the transcript keeps the
 * id_token's claims, not its bytes.
 */

const START = Date.UTC(2031, 2, 3, 9, 0, 0);
const REDIRECT_URI = 'http://localhost:3999/determinism/callback';
/** PKCE verifier fixed by the test, so both runs send identical requests. */
const VERIFIER = 'determinism-verifier-determinism-verifier-0123456789';

interface Transcript {
  tenant: Record<string, unknown>;
  users: Array<Record<string, unknown>>;
  app: Record<string, unknown>;
  callback: Record<string, string>;
  tokens: Record<string, unknown>;
  idTokenClaims: Record<string, unknown>;
  refreshed: Record<string, unknown>;
  deliveries: Array<Record<string, unknown>>;
  sentItems: Array<Record<string, unknown>>;
  folders: Record<string, Array<{ id: string; immutableId: string; internetMessageId: string }>>;
}

async function control(emulator: RunningEmulator, method: string, path: string, body?: unknown) {
  const response = await fetch(`${emulator.url}/_emulator${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const json = (await response.json()) as Record<string, unknown>;
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

async function token(emulator: RunningEmulator, fields: Record<string, string>) {
  const response = await fetch(`${emulator.url}/organizations/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  });
  const body = (await response.json()) as Record<string, unknown>;
  assert.equal(response.status, 200, JSON.stringify(body));
  return body;
}

/** The same script for every emulator: directory through the control API, a sign-in, tokens, mail. */
async function runScript(seed: string): Promise<Transcript> {
  const ctx = createEmulatorContext({
    seed,
    clock: new EmulatorClock({ startAt: START, frozen: true }),
    // Issuers and links name Microsoft's hosts, not this run's port, so that transcripts compare.
    urls: { login: 'https://login.microsoftonline.com', graph: 'https://graph.microsoft.com' },
  });
  const emulator = await startEmulator({ ctx });
  try {
    const tenant = await control(emulator, 'POST', '/tenants', {
      displayName: 'Northwind',
      domains: ['northwind.example'],
    });
    const users = [];
    for (const email of ['nora@northwind.example', 'pat@outlook.com', 'quinn@hotmail.com']) {
      users.push(await control(emulator, 'POST', '/users', { email, password: 'pw-determinism' }));
    }
    const app = await control(emulator, 'POST', '/apps', {
      displayName: 'Determinism',
      homeTenant: 'northwind.example',
      redirectUris: [REDIRECT_URI],
      signInAudience: 'AzureADMultipleOrgs',
      secret: {},
    });
    const clientId = String(app.clientId);
    const secret = String((app.createdSecret as { value: string }).value);

    const authorize = `${emulator.url}/organizations/oauth2/v2.0/authorize?${new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile offline_access User.Read Mail.Send Mail.Read',
      state: 'determinism',
      nonce: 'n-1',
      code_challenge: createHash('sha256').update(VERIFIER).digest('base64url'),
      code_challenge_method: 'S256',
    })}`;
    const callback = await new SignInDriver().signIn(authorize, {
      email: 'nora@northwind.example',
      password: 'pw-determinism',
    });
    const tokens = await token(emulator, {
      client_id: clientId,
      client_secret: secret,
      grant_type: 'authorization_code',
      code: callback.params.get('code') ?? '',
      redirect_uri: REDIRECT_URI,
      code_verifier: VERIFIER,
    });
    const { id_token: idToken, ...tokenFields } = tokens;
    const refreshed = await token(emulator, {
      client_id: clientId,
      client_secret: secret,
      grant_type: 'refresh_token',
      refresh_token: String(tokens.refresh_token),
    });
    delete refreshed.id_token;

    const accessToken = String(tokens.access_token);
    for (let index = 0; index < 12; index++) {
      const answer = await callGraph(emulator.url, accessToken, 'POST', '/me/sendMail', {
        message: {
          subject: `Update ${index}`,
          body: { contentType: 'Text', content: `Number ${index}` },
          toRecipients: [
            { emailAddress: { address: 'pat@outlook.com' } },
            { emailAddress: { address: 'quinn@hotmail.com' } },
          ],
        },
      });
      assert.equal(answer.status, 202, answer.text);
    }
    const deliveries = (await control(emulator, 'GET', '/deliveries?sender=nora@northwind.example'))
      .deliveries as Array<Record<string, unknown>>;
    const sentItems = valuesOf(
      await callGraph(
        emulator.url,
        accessToken,
        'GET',
        '/me/mailFolders/sentitems/messages?$top=50&$select=subject,internetMessageId',
      ),
    );
    const folders: Transcript['folders'] = {};
    for (const mailbox of ['pat@outlook.com', 'quinn@hotmail.com']) {
      for (const folder of ['inbox', 'junkemail']) {
        const listed = await control(emulator, 'GET', `/mailboxes/${mailbox}/folders/${folder}/messages`);
        folders[`${mailbox}/${folder}`] = (
          listed.messages as Array<{ id: string; immutableId: string; internetMessageId: string }>
        ).map(({ id, immutableId, internetMessageId }) => ({ id, immutableId, internetMessageId }));
      }
    }
    return {
      tenant,
      users,
      app,
      callback: Object.fromEntries(callback.params),
      tokens: tokenFields,
      idTokenClaims: decodeJwt(String(idToken)) as Record<string, unknown>,
      refreshed,
      deliveries,
      sentItems,
      folders,
    };
  } finally {
    await emulator.close();
  }
}

function verdicts(transcript: Transcript): string[] {
  return transcript.deliveries.flatMap((delivery) =>
    (delivery.placements as Array<{ address: string; outcome: string }>).map(
      (placement) => `${placement.address}:${placement.outcome}`,
    ),
  );
}

describe('emulator determinism under a seed', () => {
  it('answers the same request sequence identically under the same seed, and differently under another', async () => {
    const first = await runScript('determinism-seed');
    const second = await runScript('determinism-seed');
    const other = await runScript('another-seed');

    assert.deepEqual(second, first);

    // The transcript holds what the issue names: ids, lifetimes and junk verdicts.
    assert.match(String(first.tenant.id), /^[0-9a-f-]{36}$/);
    assert.ok(Number(first.tokens.expires_in) >= 3600 && Number(first.tokens.expires_in) <= 5400);
    assert.equal(first.tokens.ext_expires_in, first.tokens.expires_in);
    assert.equal(first.deliveries.length, 12);
    const outcomes = new Set(verdicts(first).map((verdict) => verdict.split(':')[1]));
    assert.deepEqual([...outcomes].sort(), ['inbox', 'junkemail'], 'the junk filter decided both ways');
    assert.equal(first.sentItems.length, 12);

    // Another seed: other ids, secrets, codes and tokens, other verdicts.
    assert.notEqual(other.tenant.id, first.tenant.id);
    assert.notEqual(other.app.clientId, first.app.clientId);
    assert.notEqual(other.callback.code, first.callback.code);
    assert.notEqual(other.tokens.access_token, first.tokens.access_token);
    assert.notDeepEqual(
      other.deliveries.map((delivery) => delivery.internetMessageId),
      first.deliveries.map((delivery) => delivery.internetMessageId),
    );
    assert.notDeepEqual(verdicts(other), verdicts(first));
  });
});
