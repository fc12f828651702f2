import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { takeFault } from '../../emulator/faults.js';
import { DEMO_IDS } from '../../emulator/seed.js';
import { type SeededEmulator, startSeededEmulator } from '../support/emulator.js';
import { callGraph, errorOf, mintGraphToken } from '../support/graph-token.js';

// Clock, settings, faults, reset, the demo seed and the API's own error handling, over real HTTP.

interface ErrorBody {
  error: { code: string; message: string };
}
interface ClockBody {
  now: string;
  nowMs: number;
  offsetMs: number;
  offsetSeconds: number;
  frozen: boolean;
  advancedSeconds?: number;
}
interface FaultBody {
  id: string;
  userId: string | null;
  userEmail: string | null;
  target: string;
  kind: string;
  retryAfterSeconds: number | null;
  latencyMs: number | null;
  remaining: number | null;
  probability: number;
}

describe('emulator control API: clock, settings, faults, reset', () => {
  let emulator: SeededEmulator;

  async function call<T>(
    method: string,
    path: string,
    body?: unknown,
    raw?: { contentType: string; text: string },
  ): Promise<{ status: number; body: T }> {
    const response = await fetch(`${emulator.url}/_emulator${path}`, {
      method,
      headers: raw
        ? { 'content-type': raw.contentType }
        : body === undefined
          ? {}
          : { 'content-type': 'application/json' },
      body: raw ? raw.text : body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
  }

  async function expectError(method: string, path: string, body: unknown, status: number, code: string) {
    const response = await call<ErrorBody>(method, path, body);
    assert.equal(response.status, status, JSON.stringify(response.body));
    assert.equal(response.body.error.code, code);
    return response.body.error.message;
  }

  before(async () => {
    emulator = await startSeededEmulator();
  });
  after(() => emulator.close());

  describe('overview and errors', () => {
    it('summarises the emulator', async () => {
      const overview = await call<{ seed: string; counts: { users: number; apps: number }; snapshotFile: null }>(
        'GET',
        '',
      );
      assert.equal(overview.status, 200);
      assert.equal(overview.body.seed, 'test-seed');
      assert.equal(overview.body.counts.users, 6);
      assert.equal(overview.body.counts.apps, 1);
      assert.equal(overview.body.snapshotFile, null);
    });

    it('answers unknown control routes and malformed JSON with JSON errors', async () => {
      await expectError('GET', '/no-such-thing', undefined, 404, 'CONTROL_ROUTE_NOT_FOUND');
      await expectError('DELETE', '/clock', undefined, 404, 'CONTROL_ROUTE_NOT_FOUND');
      const malformed = await call<ErrorBody>('POST', '/clock/advance', undefined, {
        contentType: 'application/json',
        text: '{"seconds": ',
      });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error.code, 'CONTROL_INVALID_REQUEST');
      const text = await call<ErrorBody>('POST', '/clock/advance', undefined, {
        contentType: 'text/plain',
        text: '60',
      });
      assert.equal(text.status, 400);
      assert.equal(text.body.error.code, 'CONTROL_INVALID_REQUEST');
    });
  });

  describe('clock', () => {
    it('reports and advances the clock', async () => {
      const start = await call<ClockBody>('GET', '/clock');
      assert.equal(start.status, 200);
      assert.equal(start.body.frozen, false);
      assert.equal(Date.parse(start.body.now), start.body.nowMs);

      const advanced = await call<ClockBody>('POST', '/clock/advance', { seconds: 90 });
      assert.equal(advanced.status, 200);
      assert.equal(advanced.body.advancedSeconds, 90);
      assert.equal(advanced.body.offsetMs - start.body.offsetMs, 90_000);

      const days = await call<ClockBody>('POST', '/clock/advance', { days: 90, hours: 1 });
      assert.equal(days.body.advancedSeconds, 90 * 86_400 + 3600);
      assert.equal(days.body.offsetMs - advanced.body.offsetMs, (90 * 86_400 + 3600) * 1000);
      assert.ok(emulator.ctx.clock.now() >= Date.now() + days.body.offsetMs - 1000);
    });

    it('refuses to stand still or go backwards', async () => {
      const before = emulator.ctx.clock.offsetMs;
      await expectError('POST', '/clock/advance', { seconds: -5 }, 400, 'CONTROL_INVALID_REQUEST');
      await expectError('POST', '/clock/advance', { seconds: 0 }, 400, 'CONTROL_INVALID_REQUEST');
      await expectError('POST', '/clock/advance', {}, 400, 'CONTROL_INVALID_REQUEST');
      await expectError('POST', '/clock/advance', undefined, 400, 'CONTROL_INVALID_REQUEST');
      await expectError('POST', '/clock/advance', { seconds: '60' }, 400, 'CONTROL_INVALID_REQUEST');
      await expectError('POST', '/clock/advance', { secs: 60 }, 400, 'CONTROL_INVALID_REQUEST');
      assert.equal(emulator.ctx.clock.offsetMs, before);
    });
  });

  describe('settings', () => {
    it('raises sending limits without touching the others', async () => {
      const before = structuredClone(emulator.ctx.settings);
      const patched = await call<{ limits: { exchange: { recipientsPer24h: number; messagesPerMinute: number } } }>(
        'PATCH',
        '/settings',
        { limits: { exchange: { recipientsPer24h: 1_000_000 }, requestsPer10Minutes: 50_000 } },
      );
      assert.equal(patched.status, 200);
      const settings = emulator.ctx.settings;
      assert.equal(settings.limits.exchange.recipientsPer24h, 1_000_000);
      assert.equal(settings.limits.exchange.messagesPerMinute, before.limits.exchange.messagesPerMinute);
      assert.equal(settings.limits.requestsPer10Minutes, 50_000);
      assert.deepEqual(settings.limits.outlook, before.limits.outlook);
      assert.equal(settings.refreshTokenInactivitySeconds, before.refreshTokenInactivitySeconds);

      await call('PATCH', '/settings', { accessTokenLifetimeSeconds: { min: 60, max: 120 } });
      assert.deepEqual(emulator.ctx.settings.accessTokenLifetimeSeconds, { min: 60, max: 120 });
      const read = await call<{ accessTokenLifetimeSeconds: { min: number } }>('GET', '/settings');
      assert.equal(read.body.accessTokenLifetimeSeconds.min, 60);
    });

    it('rejects bad settings', async () => {
      const before = structuredClone(emulator.ctx.settings);
      const negative = await expectError(
        'PATCH',
        '/settings',
        { limits: { exchange: { recipientsPer24h: -1 } } },
        400,
        'CONTROL_INVALID_REQUEST',
      );
      assert.match(negative, /body\.limits\.exchange\.recipientsPer24h/);
      await expectError(
        'PATCH',
        '/settings',
        { accessTokenLifetimeSeconds: { min: 600, max: 60 } },
        400,
        'CONTROL_INVALID_REQUEST',
      );
      await expectError('PATCH', '/settings', { limits: { perSecond: 5 } }, 400, 'CONTROL_INVALID_REQUEST');
      assert.deepEqual(emulator.ctx.settings, before);
    });
  });

  describe('faults', () => {
    it('adds fault rules of every kind, for one mailbox or all', async () => {
      const megan = emulator.seed.users.work;
      const throttle = await call<FaultBody>('POST', '/faults', {
        kind: 'throttle429',
        target: 'send',
        email: 'MEGAN@contoso.com',
        retryAfterSeconds: 2.5,
        count: 2,
      });
      assert.equal(throttle.status, 201);
      assert.equal(throttle.body.userId, megan.id);
      assert.equal(throttle.body.userEmail, 'megan@contoso.com');
      assert.equal(throttle.body.remaining, 2);
      assert.equal(throttle.body.retryAfterSeconds, 2.5);
      assert.equal(throttle.body.probability, 1);

      const latency = await call<FaultBody>('POST', '/faults', { kind: 'latency', target: 'graph', userId: megan.id });
      assert.equal(latency.body.latencyMs, 1000, 'latency defaults to a second');
      assert.equal(latency.body.remaining, null, 'no count: until removed');
      for (const kind of ['unavailable503', 'drop', 'timeoutAfterAccept']) {
        const rule = await call<FaultBody>('POST', '/faults', { kind, target: 'token', probability: 0.5 });
        assert.equal(rule.status, 201);
        assert.equal(rule.body.userId, null);
        assert.equal(rule.body.probability, 0.5);
      }
      const list = await call<{ faults: FaultBody[] }>('GET', '/faults');
      assert.equal(list.body.faults.length, 5);
      assert.equal(emulator.ctx.faults.length, 5);

      // The Graph handlers consume rules through faults.ts: the count runs down and the rule goes away.
      assert.equal(takeFault(emulator.ctx, 'send', emulator.seed.users.personal.id), null);
      assert.equal(takeFault(emulator.ctx, 'send', megan.id)?.id, throttle.body.id);
      assert.equal(takeFault(emulator.ctx, 'send', megan.id)?.id, throttle.body.id);
      assert.equal(takeFault(emulator.ctx, 'send', megan.id)?.id, latency.body.id);
      await expectError('DELETE', `/faults/${throttle.body.id}`, undefined, 404, 'CONTROL_FAULT_NOT_FOUND');

      const removed = await call<{ removed: number }>('DELETE', `/faults/${latency.body.id}`);
      assert.equal(removed.body.removed, 1);
      assert.equal(emulator.ctx.faults.length, 3);
      const cleared = await call<{ removed: number }>('DELETE', '/faults');
      assert.equal(cleared.body.removed, 3);
      assert.deepEqual(emulator.ctx.faults, []);
    });

    it('validates fault rules', async () => {
      const cases: Array<[unknown, number, string, RegExp?]> = [
        [{ kind: 'explode', target: 'graph' }, 400, 'CONTROL_INVALID_REQUEST', /body\.kind/],
        [{ kind: 'drop', target: 'everything' }, 400, 'CONTROL_INVALID_REQUEST', /body\.target/],
        [{ kind: 'drop' }, 400, 'CONTROL_INVALID_REQUEST', /body\.target/],
        [
          { kind: 'latency', target: 'graph', retryAfterSeconds: 1 },
          400,
          'CONTROL_INVALID_REQUEST',
          /retryAfterSeconds/,
        ],
        [{ kind: 'throttle429', target: 'graph', latencyMs: 10 }, 400, 'CONTROL_INVALID_REQUEST', /latencyMs/],
        [{ kind: 'drop', target: 'graph', probability: 0 }, 400, 'CONTROL_INVALID_REQUEST', /probability/],
        [{ kind: 'drop', target: 'graph', probability: 1.5 }, 400, 'CONTROL_INVALID_REQUEST', /probability/],
        [{ kind: 'drop', target: 'graph', count: 0 }, 400, 'CONTROL_INVALID_REQUEST', /count/],
        [{ kind: 'drop', target: 'graph', count: 1.5 }, 400, 'CONTROL_INVALID_REQUEST', /count/],
        [{ kind: 'throttle429', target: 'graph', retryAfterSeconds: -1 }, 400, 'CONTROL_INVALID_REQUEST'],
        [{ kind: 'drop', target: 'graph', email: 'nobody@contoso.com' }, 404, 'CONTROL_USER_NOT_FOUND'],
        [{ kind: 'drop', target: 'graph', userId: 'no-such-id' }, 404, 'CONTROL_USER_NOT_FOUND'],
        [
          { kind: 'drop', target: 'graph', userId: emulator.seed.users.work.id, email: 'alex@outlook.com' },
          400,
          'CONTROL_INVALID_REQUEST',
        ],
        [{ kind: 'drop', target: 'graph', user: 'megan@contoso.com' }, 400, 'CONTROL_INVALID_REQUEST', /user/],
      ];
      for (const [body, status, code, message] of cases) {
        const text = await expectError('POST', '/faults', body, status, code);
        if (message) assert.match(text, message, JSON.stringify(body));
      }
      assert.deepEqual(emulator.ctx.faults, []);
    });
  });

  describe('recorded faults', () => {
    it('answers Graph and the token endpoint with the recorded response, with Microsoft’s status, code and wording', async () => {
      const megan = emulator.seed.users.work;
      for (const [recorded, status, code, message] of [
        ['named_property_quota', 403, 'ErrorQuotaExceeded', 'Cannot get ID from name.'],
        ['odata_disabled', 403, 'ErrorAccessDenied', 'Access to OData is disabled.'],
        ['mailbox_not_discovered', 404, 'ResourceNotFound', 'Resource could not be discovered.'],
        ['target_mailbox_quota', 507, 'QuotaExceededException', 'Target mailbox quota exceeded.'],
      ] as const) {
        const rule = await call<FaultBody & { recorded: string }>('POST', '/faults', {
          kind: 'recorded',
          recorded,
          target: 'send',
          email: megan.email,
          count: 1,
        });
        assert.equal(rule.status, 201);
        assert.equal(rule.body.recorded, recorded);
        const token = mintGraphToken(emulator.ctx, megan);
        const mail = { message: { subject: 's', body: { contentType: 'Text', content: 'b' }, toRecipients: [] } };
        const answer = await callGraph(emulator.url, token, 'POST', '/me/sendMail', mail);
        assert.equal(answer.status, status, recorded);
        assert.deepEqual([errorOf(answer).code, errorOf(answer).message], [code, message]);
        assert.ok(answer.headers.get('request-id'));
      }

      await call('POST', '/faults', { kind: 'recorded', recorded: 'sign_in_frequency', target: 'token', count: 1 });
      const refused = await fetch(`${emulator.url}/common/oauth2/v2.0/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: 'any',
          client_id: emulator.seed.app.clientId,
          client_secret: emulator.clientSecret,
        }),
      });
      assert.equal(refused.status, 400);
      const body = (await refused.json()) as Record<string, unknown>;
      assert.equal(body.error, 'invalid_grant');
      assert.deepEqual(body.error_codes, [70043]);
      assert.equal(body.suberror, 'token_expired');
      assert.match(
        String(body.error_description),
        /^AADSTS70043: The refresh token has expired or is invalid due to sign-in frequency checks/,
      );
      assert.deepEqual(emulator.ctx.faults, []);
    });

    it('validates recorded fault rules', async () => {
      const cases: Array<[unknown, RegExp]> = [
        [{ kind: 'recorded', target: 'send' }, /needs "recorded"/],
        [{ kind: 'recorded', recorded: 'no_such_answer', target: 'send' }, /body\.recorded/],
        [
          { kind: 'recorded', recorded: 'odata_disabled', target: 'token' },
          /Graph error; it cannot answer the token target/,
        ],
        [
          { kind: 'recorded', recorded: 'sign_in_frequency', target: 'graph' },
          /identity error; it cannot answer the graph target/,
        ],
        [{ kind: 'drop', target: 'authorize' }, /takes only recorded faults/],
        [{ kind: 'drop', target: 'graph', recorded: 'odata_disabled' }, /recorded applies only to recorded faults/],
      ];
      for (const [body, message] of cases) {
        const text = await expectError('POST', '/faults', body, 400, 'CONTROL_INVALID_REQUEST');
        assert.match(text, message, JSON.stringify(body));
      }
      assert.deepEqual(emulator.ctx.faults, []);
    });
  });

  describe('reset and the demo seed', () => {
    it('seeds the demo world on demand, once', async () => {
      await expectError(
        'POST',
        '/seed/demo',
        { redirectUris: ['http://localhost:4000/cb'] },
        409,
        'CONTROL_DEMO_ALREADY_SEEDED',
      );
      await expectError('POST', '/seed/demo', { redirectUris: [] }, 400, 'CONTROL_INVALID_REQUEST');
    });

    it('resets to an empty world, keeping the clock and the request sequence', async () => {
      const ctx = emulator.ctx;
      await fetch(`${emulator.url}/not/a/microsoft/path`);
      assert.ok(ctx.requestLog.length > 0);
      const seqBefore = ctx.nextRequestSeq;
      const offsetBefore = ctx.clock.offsetMs;
      (ctx.world as { signingKeys?: unknown[] }).signingKeys = [{ kid: 'kept' }];
      await call('POST', '/faults', { kind: 'drop', target: 'graph' });

      const reset = await call<{ reset: boolean; demo: null }>('POST', '/reset');
      assert.equal(reset.status, 200);
      assert.equal(reset.body.demo, null);
      assert.deepEqual(ctx.world.users, {});
      assert.deepEqual(ctx.world.tenants, {});
      assert.deepEqual(ctx.world.apps, {});
      assert.deepEqual(ctx.world.mailboxes, {});
      assert.deepEqual(ctx.faults, []);
      assert.deepEqual(ctx.requestLog, []);
      assert.deepEqual(ctx.usage, {});
      assert.equal(ctx.nextRequestSeq, seqBefore);
      assert.equal(ctx.clock.offsetMs, offsetBefore);
      assert.deepEqual((ctx.world as { signingKeys?: unknown[] }).signingKeys, [{ kid: 'kept' }]);
      await expectError('GET', '/users/megan@contoso.com', undefined, 404, 'CONTROL_USER_NOT_FOUND');
    });

    it('seeds the demo world into an empty one, returning a secret it made up (once)', async () => {
      const seeded = await call<{
        app: { clientId: string; redirectUris: string[] };
        users: Record<string, { email: string }>;
        clientSecret: string;
      }>('POST', '/seed/demo', { redirectUris: ['http://localhost:4000/cb'] });
      assert.equal(seeded.status, 201);
      assert.equal(seeded.body.app.clientId, DEMO_IDS.clientId);
      assert.deepEqual(seeded.body.app.redirectUris, ['http://localhost:4000/cb']);
      assert.equal(seeded.body.users.work!.email, 'megan@contoso.com');
      const app = emulator.ctx.world.apps[DEMO_IDS.clientId]!;
      assert.equal(app.secrets[0]!.value, seeded.body.clientSecret);
    });

    it('resets and re-seeds with a chosen secret, which is not echoed', async () => {
      const reset = await call<{ demo: { clientSecret: string | null; users: Record<string, { email: string }> } }>(
        'POST',
        '/reset',
        {
          demo: {
            redirectUris: ['http://localhost:5000/cb'],
            clientSecret: 'chosen-demo-secret',
            secretExpiresAt: '2031-01-01T00:00:00Z',
          },
        },
      );
      assert.equal(reset.status, 200);
      assert.equal(reset.body.demo.clientSecret, null);
      assert.equal(JSON.stringify(reset.body).includes('chosen-demo-secret'), false);
      const app = emulator.ctx.world.apps[DEMO_IDS.clientId]!;
      assert.equal(app.secrets.length, 1);
      assert.equal(app.secrets[0]!.value, 'chosen-demo-secret');
      assert.equal(app.secrets[0]!.expiresAt, Date.parse('2031-01-01T00:00:00Z'));
      assert.deepEqual(app.redirectUris, ['http://localhost:5000/cb']);
      assert.equal(Object.keys(emulator.ctx.world.users).length, 6);
      await expectError('POST', '/reset', { demo: { redirectUris: ['nope'] } }, 400, 'CONTROL_INVALID_REQUEST');
      await expectError('POST', '/reset', { wipe: true }, 400, 'CONTROL_INVALID_REQUEST');
    });
  });

  describe('snapshot route', () => {
    it('says how to configure snapshots when no file is set', async () => {
      const message = await expectError('POST', '/snapshot', undefined, 409, 'CONTROL_SNAPSHOT_NOT_CONFIGURED');
      assert.match(message, /EMULATOR_SNAPSHOT/);
    });
  });
});
