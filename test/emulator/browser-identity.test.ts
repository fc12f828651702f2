import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DEMO_IDS, DEMO_PASSWORD, DEMO_SECOND_FACTOR_CODE } from '../../emulator/index.js';
import { type CallbackRecorder, launchBrowser, startCallbackRecorder, type TestBrowser } from '../support/browser.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';

describe('identity sign-in pages in headless Chromium', () => {
  let recorder: CallbackRecorder;
  let emulator: SeededEmulator;
  let browser: TestBrowser;
  let redirectUri: string;

  before(async () => {
    recorder = await startCallbackRecorder();
    redirectUri = `${recorder.url}/callback`;
    emulator = await startSeededEmulator({ redirectUris: [redirectUri] });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await emulator?.close();
    await recorder?.close();
  });

  function authorizeUrl(params: Record<string, string>): string {
    return `${emulator.url}/organizations/oauth2/v2.0/authorize?${new URLSearchParams({
      client_id: DEMO_IDS.clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid profile offline_access User.Read Mail.Send',
      ...params,
    })}`;
  }

  it('signs in with password and second factor, shows the consent page, and returns a code that redeems', async () => {
    const { page } = browser;
    const verifier = randomBytes(32).toString('base64url');
    await page.goto(
      authorizeUrl({
        state: 'browser-state',
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      }),
    );
    await page.fill('#email', emulator.seed.users.workWithMfa.email);
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('#next');
    await page.fill('#code', DEMO_SECOND_FACTOR_CODE);
    await page.click('#next');

    await page.waitForSelector('#permissions');
    const permissions = await page.locator('#permissions li').allTextContents();
    assert.ok(permissions.includes('Send mail as you'));
    assert.ok(permissions.includes('Sign you in and read your profile'));
    assert.ok(permissions.includes('Maintain access to data you have given it access to'));
    await page.click('#accept');

    const callback = await recorder.next();
    await page.waitForSelector('#callback-received');
    assert.equal(callback.method, 'GET');
    assert.equal(callback.params.get('state'), 'browser-state');
    const code = callback.params.get('code');
    assert.ok(code);

    const answer = await fetch(`${emulator.url}/organizations/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: DEMO_IDS.clientId,
        client_secret: emulator.clientSecret,
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
        code_verifier: verifier,
      }),
    });
    assert.equal(answer.status, 200);
  });

  it('remembers the session: the next connection auto-posts the code (form_post) without any page', async () => {
    const { page } = browser;
    await page.goto(authorizeUrl({ state: 'again', response_mode: 'form_post' }));
    const callback = await recorder.next();
    assert.equal(callback.method, 'POST', 'the form_post page submitted itself under its CSP');
    assert.ok(callback.params.get('code'));
    assert.equal(callback.params.get('state'), 'again');
  });

  it('shows "Need admin approval", sends the request with a justification, and returns AADSTS90095', async () => {
    const { page, context } = browser;
    // Another person at the same browser: forget the first user's session.
    await context.clearCookies();
    await page.goto(authorizeUrl({ state: 'approval-state' }));
    await page.fill('#email', emulator.seed.users.approvalRequired.email);
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('#next');

    await page.waitForSelector('#request-approval');
    assert.match((await page.locator('h1').textContent()) ?? '', /Need admin approval/);
    assert.equal(await page.locator('#client-id').textContent(), DEMO_IDS.clientId);
    await page.fill('#justification', 'Our team sends the weekly report through it.');
    await page.click('#request-approval');

    await page.waitForSelector('#request-sent');
    const requests = Object.values(emulator.ctx.world.adminApprovalRequests);
    assert.equal(requests.length, 1);
    assert.equal(requests[0]!.justification, 'Our team sends the weekly report through it.');
    assert.equal(requests[0]!.status, 'pending');
    await page.click('#back');

    const callback = await recorder.next();
    assert.equal(callback.params.get('error'), 'access_denied');
    assert.match(callback.params.get('error_description') ?? '', /^AADSTS90095: /);
    assert.equal(callback.params.get('state'), 'approval-state');
  });
});
