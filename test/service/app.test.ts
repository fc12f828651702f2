import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestService, type TestService } from '../support/service.js';

describe('service app', () => {
  let service: TestService;
  before(async () => {
    service = await startTestService();
  });
  after(() => service.close());

  it('answers /healthz over real HTTP', async () => {
    const response = await fetch(`${service.url}/healthz`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ok' });
  });

  it('answers unknown routes with the JSON error shape', async () => {
    const response = await fetch(`${service.url}/v1/nope`);
    assert.equal(response.status, 404);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'NOT_FOUND');
  });

  it('answers GET / with a page that points to the dashboard and the API document', async () => {
    const response = await fetch(`${service.url}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    const page = await response.text();
    assert.match(page, /href="\/dashboard" id="home-dashboard"/);
    assert.match(page, /href="\/v1\/openapi.json" id="home-openapi"/);
    assert.match(page, /id="home-emulator"/, 'the test service runs on the emulator, and the page says so');
  });

  it('sends a strict Content-Security-Policy', async () => {
    const response = await fetch(`${service.url}/healthz`);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
  });

  it('discovers Microsoft through the emulator standing in for login.microsoftonline.com', async () => {
    const oauth = await service.deps.microsoft.oauth();
    assert.equal(oauth.serverMetadata().issuer, 'https://login.microsoftonline.com/{tenantid}/v2.0');
  });
});
