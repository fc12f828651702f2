import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addFault } from '../../emulator/control/actions.js';
import { trackDatabaseState } from '../../src/metrics/database-state.js';
import { classifyMicrosoftRequest } from '../../src/metrics/microsoft-fetch-metrics.js';
import { createServiceMetrics } from '../../src/metrics/service-metrics.js';
import { deliverDueWebhooks } from '../../src/webhooks/webhook-dispatcher.js';
import { createWebhookEndpoint } from '../../src/webhooks/webhook-endpoints.js';
import { type OutboxHarness, startOutboxHarness } from '../outbox/outbox-test-kit.js';
import { startTestService } from '../support/service.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const TOKEN = 'ops-token-0123456789abcdef0123456789';
const WEBHOOK_SECRET = 'whsec-0123456789abcdef0123456789abcdef';

/** One sample of the exposition: `name{a="x",b="y"} value`. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with this name whose labels include `labels`; 0 when absent (a counter not yet hit). */
function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value ?? 0;
}

describe('Prometheus metrics', () => {
  let h: OutboxHarness;
  let receiver: WebhookReceiver;
  let alex: string;

  const scrape = async (): Promise<{ text: string; samples: Sample[] }> => {
    const response = await fetch(`${h.service.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    return { text, samples: parseExposition(text) };
  };
  const sendOne = async (subject: string) => {
    const accepted = await h.send(`/v1/accounts/${alex}/messages`, { to: 'megan@contoso.com', subject, text: 'Hi' });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    return accepted.body.id as string;
  };

  before(async () => {
    receiver = await startWebhookReceiver({ secret: WEBHOOK_SECRET, toleranceSeconds: 86_400 });
    h = await startOutboxHarness('sqlite', {
      env: { MAILBRIDGE_METRICS_TOKEN: TOKEN },
    });
    // The harness's organisation hears its events on an endpoint of its own.
    await createWebhookEndpoint(h.service.deps, h.client.organization.id, {
      url: receiver.url,
      secret: WEBHOOK_SECRET,
    });
    alex = await h.connect('alex@outlook.com', { profile: 'send', ownerId: 'alex' });
  });
  after(async () => {
    await h?.close();
    await receiver?.close();
  });

  it('exposes every mailbridge metric and the default process metrics', async () => {
    const { text } = await scrape();
    for (const [name, type] of [
      ['mailbridge_process_info', 'gauge'],
      ['mailbridge_outbox_sends_total', 'counter'],
      ['mailbridge_outbox_messages', 'gauge'],
      ['mailbridge_outbox_oldest_message_age_seconds', 'gauge'],
      ['mailbridge_graph_request_duration_seconds', 'histogram'],
      ['mailbridge_graph_throttled_total', 'counter'],
      ['mailbridge_identity_request_duration_seconds', 'histogram'],
      ['mailbridge_token_refreshes_total', 'counter'],
      ['mailbridge_accounts', 'gauge'],
      ['mailbridge_webhook_deliveries_total', 'counter'],
      ['mailbridge_database_up', 'gauge'],
      ['process_cpu_user_seconds_total', 'counter'],
      ['process_resident_memory_bytes', 'gauge'],
      ['nodejs_eventloop_lag_seconds', 'gauge'],
      ['nodejs_heap_size_used_bytes', 'gauge'],
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);
    }
    const samples = parseExposition(text);
    assert.equal(sampleValue(samples, 'mailbridge_database_up'), 1);
    assert.equal(
      sampleValue(samples, 'mailbridge_accounts', { status: 'connected' }),
      1,
      'the account connected above',
    );
    assert.equal(sampleValue(samples, 'mailbridge_accounts', { status: 'reconnect_required' }), 0);
    // The connect flow redeemed an authorization code at the token endpoint and discovered the metadata.
    assert.ok(
      sampleValue(samples, 'mailbridge_identity_request_duration_seconds_count', {
        endpoint: 'token',
        status: '200',
      }) >= 1,
    );
    assert.ok(
      sampleValue(samples, 'mailbridge_identity_request_duration_seconds_count', {
        endpoint: 'discovery',
        status: '200',
      }) >= 1,
    );
    assert.ok(
      sampleValue(samples, 'mailbridge_graph_request_duration_seconds_count', { endpoint: 'me', status: '200' }) >= 1,
    );
    // Label values are closed sets: no ids or addresses anywhere.
    assert.doesNotMatch(text, /acc_|msg_|@outlook\.com|@contoso\.com/);
  });

  it('a send moves the sends counter and the Graph latency histogram; the webhook of its event is counted', async () => {
    const before = (await scrape()).samples;
    await sendOne('Counted');
    assert.equal(await h.dispatch(), 1);
    assert.ok((await deliverDueWebhooks(h.service.deps, { limit: 50 })) >= 1);
    const now = (await scrape()).samples;
    const delta = (name: string, labels: Record<string, string>) =>
      sampleValue(now, name, labels) - sampleValue(before, name, labels);
    assert.equal(delta('mailbridge_outbox_sends_total', { outcome: 'sent' }), 1);
    assert.equal(delta('mailbridge_graph_request_duration_seconds_count', { endpoint: 'send_mail', status: '202' }), 1);
    assert.ok(delta('mailbridge_graph_request_duration_seconds_sum', { endpoint: 'send_mail', status: '202' }) > 0);
    assert.equal(
      delta('mailbridge_graph_request_duration_seconds_bucket', { endpoint: 'send_mail', status: '202', le: '+Inf' }),
      1,
    );
    assert.ok(delta('mailbridge_webhook_deliveries_total', { outcome: 'delivered' }) >= 1);
    assert.ok(receiver.acceptedEventIds().length >= 1);
  });

  it('a refresh is counted by outcome and reason', async () => {
    const before = (await scrape()).samples;
    // Past the access token's lifetime: the next send refreshes first.
    h.advance(2 * 3600);
    await sendOne('After expiry');
    assert.equal(await h.dispatch(), 1);
    const now = (await scrape()).samples;
    const labels = { outcome: 'ok', reason: 'expiry' };
    assert.equal(
      sampleValue(now, 'mailbridge_token_refreshes_total', labels) -
        sampleValue(before, 'mailbridge_token_refreshes_total', labels),
      1,
    );
  });

  it('a 429 from Graph is a throttle of its endpoint kind and a retry', async () => {
    const before = (await scrape()).samples;
    addFault(h.ctx, { kind: 'throttle429', target: 'send', user: 'alex@outlook.com', count: 1, retryAfterSeconds: 3 });
    await sendOne('Throttled');
    assert.equal(await h.dispatch(), 1);
    const now = (await scrape()).samples;
    const delta = (name: string, labels: Record<string, string>) =>
      sampleValue(now, name, labels) - sampleValue(before, name, labels);
    assert.equal(delta('mailbridge_graph_throttled_total', { endpoint: 'send_mail', status: '429' }), 1);
    assert.equal(delta('mailbridge_graph_request_duration_seconds_count', { endpoint: 'send_mail', status: '429' }), 1);
    assert.equal(delta('mailbridge_outbox_sends_total', { outcome: 'retry' }), 1);
  });

  it('queue depth and the age of the oldest message per state follow the outbox (read at scrape time)', async () => {
    await h.drain();
    h.advance(60);
    await h.drain();
    // A registry of its own without read caching, to watch the gauges move step by step.
    const metrics = createServiceMetrics({ defaultMetrics: false });
    trackDatabaseState(metrics, h.service.deps, { outboxCacheMs: 0, accountsCacheMs: 0 });
    const read = async () => parseExposition(await metrics.registry.metrics());
    const queued = (samples: Sample[]) => sampleValue(samples, 'mailbridge_outbox_messages', { state: 'queued' });
    const age = (samples: Sample[]) =>
      sampleValue(samples, 'mailbridge_outbox_oldest_message_age_seconds', { state: 'queued' });

    const empty = await read();
    assert.equal(queued(empty), 0);
    assert.equal(age(empty), 0);
    await sendOne('Waiting one');
    h.advance(30);
    await sendOne('Waiting two');
    h.advance(15);
    const waiting = await read();
    assert.equal(queued(waiting), 2);
    assert.equal(age(waiting), 45, 'the first has been due for 45 s');
    assert.equal(sampleValue(waiting, 'mailbridge_outbox_messages', { state: 'sending' }), 0);
    assert.equal(sampleValue(waiting, 'mailbridge_database_up'), 1);
    await h.drain();
    const drained = await read();
    assert.equal(queued(drained), 0);
    assert.equal(age(drained), 0);
  });

  it('each composed service has its own registry: nothing is shared through a global', async () => {
    const other = await startTestService({ env: { MAILBRIDGE_METRICS_TOKEN: TOKEN } });
    try {
      assert.notEqual(other.deps.metrics.registry, h.service.deps.metrics.registry);
      const response = await fetch(`${other.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const samples = parseExposition(await response.text());
      assert.equal(sampleValue(samples, 'mailbridge_outbox_sends_total', { outcome: 'sent' }), 0);
      assert.equal(sampleValue(samples, 'mailbridge_token_refreshes_total', { outcome: 'ok', reason: 'expiry' }), 0);
    } finally {
      await other.close();
    }
  });
});

describe('Microsoft request classification (metric labels)', () => {
  const cases: Array<[string, string, string, string]> = [
    ['POST', 'https://graph.microsoft.com/v1.0/me/sendMail', 'graph', 'send_mail'],
    ['POST', 'https://graph.microsoft.com/v1.0/me/messages', 'graph', 'create_draft'],
    ['POST', 'https://graph.microsoft.com/v1.0/me/messages/AAMk%3D/send', 'graph', 'send_draft'],
    ['POST', 'https://graph.microsoft.com/v1.0/me/messages/AAMk/attachments', 'graph', 'attachment'],
    [
      'POST',
      'https://graph.microsoft.com/v1.0/me/messages/AAMk/attachments/createUploadSession',
      'graph',
      'upload_session',
    ],
    [
      'PUT',
      "https://outlook.office.com/api/v2.0/Users('x')/Messages('y')/AttachmentSessions('z')?authtoken=abc",
      'graph',
      'upload_chunk',
    ],
    [
      'GET',
      "https://graph.microsoft.com/v1.0/me/mailFolders/sentitems/messages?$filter=internetMessageId eq '<a@b>'",
      'graph',
      'read_messages',
    ],
    ['DELETE', 'https://graph.microsoft.com/v1.0/me/messages/AAMk', 'graph', 'delete_message'],
    ['PATCH', 'https://graph.microsoft.com/v1.0/me/messages/AAMk', 'graph', 'update_message'],
    ['POST', 'https://graph.microsoft.com/v1.0/me/messages/AAMk/reply', 'graph', 'reply'],
    ['GET', 'https://graph.microsoft.com/v1.0/me?$select=id,mail', 'graph', 'me'],
    ['GET', 'https://graph.microsoft.com/v1.0/me/mailboxSettings', 'graph', 'mailbox_settings'],
    ['GET', 'https://graph.microsoft.com/v1.0/me/mailFolders/inbox/messageRules', 'graph', 'message_rules'],
    ['GET', 'https://graph.microsoft.com/v1.0/me/mailFolders', 'graph', 'mail_folders'],
    ['GET', 'https://graph.microsoft.com/v1.0/organization', 'graph', 'other'],
    ['POST', 'https://login.microsoftonline.com/common/oauth2/v2.0/token', 'identity', 'token'],
    [
      'POST',
      'https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/oauth2/v2.0/token',
      'identity',
      'token',
    ],
    ['GET', 'https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration', 'identity', 'discovery'],
    ['GET', 'https://login.microsoftonline.com/common/discovery/v2.0/keys', 'identity', 'jwks'],
    ['GET', 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize', 'identity', 'other'],
  ];
  for (const [method, url, service, endpoint] of cases) {
    it(`${method} ${url.slice(0, 90)} → ${service} ${endpoint}`, () => {
      assert.deepEqual(classifyMicrosoftRequest(method, url), { service, endpoint });
    });
  }
});
