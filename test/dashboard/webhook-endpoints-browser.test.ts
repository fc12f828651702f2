import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensureFirstAdmin } from '../../src/dashboard-auth/first-admin.js';
import { withTransaction } from '../../src/db/transaction.js';
import { ensureDefaultOrganization } from '../../src/orgs/organizations.js';
import { Secret } from '../../src/platform/secret.js';
import { deliverDueWebhooks } from '../../src/webhooks/webhook-dispatcher.js';
import { launchBrowser, type TestBrowser } from '../support/browser.js';
import { startTestService, type TestService } from '../support/service.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD } from './dashboard-client.js';

/** Settings → Webhooks in headless Chromium: add an endpoint (secret shown once), deliveries, rotate, disable, delete. */
describe('dashboard webhook endpoints in headless Chromium', () => {
  let service: TestService;
  let browser: TestBrowser;
  let receiver: WebhookReceiver;
  let secrets: string[] = [];

  before(async () => {
    receiver = await startWebhookReceiver({ secret: () => secrets });
    service = await startTestService();
    await ensureFirstAdmin(service.deps, { email: ADMIN_EMAIL, password: new Secret(ADMIN_PASSWORD) });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await service?.close();
    await receiver?.close();
  });

  const record = async (type: 'account.connected' | 'owner.deleted') => {
    const organization = await ensureDefaultOrganization(service.deps.db, service.deps.clock);
    return withTransaction(service.deps.db, (trx) =>
      service.deps.events.record(trx, { organizationId: organization.id, type, ownerExternalId: 'u-1', data: {} }),
    );
  };

  it('adds an endpoint with its secret shown once, shows its deliveries, rotates, disables and deletes it', async () => {
    const { page } = browser;
    await page.goto(`${service.url}/dashboard/sign-in`);
    await page.fill('#email', ADMIN_EMAIL);
    await page.fill('#password', ADMIN_PASSWORD);
    await page.click('#sign-in');
    await page.click('#nav-settings');
    await page.click('#settings-webhooks');
    await page.waitForSelector('#add-webhook-endpoint');
    assert.ok(await page.isVisible('#no-webhook-endpoints'));

    // A secret too short gets the one configuration message; the form keeps what was typed.
    await page.fill('#webhook-url', receiver.url);
    await page.check('#type-account-connected');
    await page.fill('#webhook-secret', 'short');
    await page.click('#add-webhook-endpoint-submit');
    await page.waitForSelector('#webhooks-notice');
    assert.equal(
      ((await page.textContent('#webhooks-notice')) ?? '').trim(),
      'secret is shorter than 32 characters; make one with `openssl rand -hex 32`.',
    );
    assert.equal(await page.inputValue('#webhook-url'), receiver.url);
    assert.ok(await page.isChecked('#type-account-connected'));

    await page.fill('#webhook-secret', '');
    await page.click('#add-webhook-endpoint-submit');
    await page.waitForSelector('#shown-secret-value');
    const secret = ((await page.textContent('#shown-secret-value')) ?? '').trim();
    assert.match(secret, /^[0-9a-f]{64}$/);
    secrets = [secret];
    const row = await service.deps.db.selectFrom('webhook_endpoints').selectAll().executeTakeFirstOrThrow();
    assert.equal(row.event_types, '["account.connected"]');
    assert.ok(!row.secret_sealed.includes(secret));

    // Only the wanted type is delivered, and the page lists it.
    const wanted = await record('account.connected');
    await record('owner.deleted');
    await deliverDueWebhooks(service.deps, { limit: 10 });
    assert.deepEqual(receiver.acceptedEventIds(), [wanted.id]);
    await page.goto(`${service.url}/dashboard/settings/webhooks`);
    await page.waitForSelector(`#webhook-endpoint-${row.id}`);
    assert.ok(!(await page.content()).includes(secret), 'the list never shows the secret again');
    assert.match((await page.textContent('#webhook-deliveries')) ?? '', /account\.connected[\s\S]*delivered/);

    // Rotation: a new secret, shown once; the previous one still signs during the overlap.
    await page.click(`#rotate-${row.id}`);
    await page.waitForSelector('#shown-secret-value');
    const rotated = ((await page.textContent('#shown-secret-value')) ?? '').trim();
    assert.match(rotated, /^[0-9a-f]{64}$/);
    assert.notEqual(rotated, secret);
    const during = await record('account.connected');
    await deliverDueWebhooks(service.deps, { limit: 10 });
    assert.ok(receiver.acceptedEventIds().includes(during.id), 'the old secret still verifies during the overlap');
    secrets = [rotated];
    const withNew = await record('account.connected');
    await deliverDueWebhooks(service.deps, { limit: 10 });
    assert.ok(receiver.acceptedEventIds().includes(withNew.id), 'the new secret verifies');
    await page.goto(`${service.url}/dashboard/settings/webhooks`);
    assert.match((await page.textContent(`#webhook-endpoint-${row.id}`)) ?? '', /previous secret signs too until/);

    await page.click(`#toggle-${row.id}`);
    await page.waitForSelector('#webhooks-notice');
    assert.match((await page.textContent(`#webhook-endpoint-${row.id}`)) ?? '', /disabled/);
    const whileDisabled = await record('account.connected');
    await deliverDueWebhooks(service.deps, { limit: 10 });
    assert.ok(!receiver.acceptedEventIds().includes(whileDisabled.id));

    await page.click(`#delete-${row.id}`);
    await page.waitForSelector('#no-webhook-endpoints');
    assert.equal((await service.deps.db.selectFrom('webhook_endpoints').selectAll().execute()).length, 0);
  });
});
