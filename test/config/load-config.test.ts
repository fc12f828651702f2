import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { loadConfig } from '../../src/config/load-config.js';
import { AppError } from '../../src/errors/app-error.js';
import { Secret } from '../../src/platform/secret.js';

const CLIENT_ID = '5f3c2d1e-8a4b-4c6d-9e7f-0a1b2c3d4e5f';
const key = (): string => randomBytes(32).toString('base64');

function problemsOf(env: Record<string, string>): Array<{ variable: string; message: string }> {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof AppError);
    assert.equal(error.code, 'CONFIG_INVALID');
    return error.details?.['problems'] as Array<{ variable: string; message: string }>;
  }
  assert.fail('loadConfig accepted an invalid configuration');
}

describe('loadConfig', () => {
  it('applies the documented defaults and runs the emulator without a Microsoft app', () => {
    const config = loadConfig({});
    assert.equal(config.port, 3000);
    assert.equal(config.publicUrl, 'http://localhost:3000');
    assert.equal(config.dataDir, './data');
    assert.deepEqual(config.database, { dialect: 'sqlite', path: 'data/mailbridge.db' });
    assert.equal(config.keyRing, undefined);
    assert.deepEqual(config.microsoft, {
      mode: 'emulator',
      tenant: 'common',
      loginUrl: 'https://login.microsoftonline.com',
      graphUrl: 'https://graph.microsoft.com',
    });
    assert.equal(config.webhook, undefined);
    assert.equal(config.smtp, undefined);
    assert.equal(config.logLevel, 'info');
  });

  it('derives PUBLIC_URL from PORT and the database file from the data directory', () => {
    const config = loadConfig({ PORT: '8080', MAILBRIDGE_DATA_DIR: '/var/lib/mailbridge' });
    assert.equal(config.publicUrl, 'http://localhost:8080');
    assert.deepEqual(config.database, { dialect: 'sqlite', path: '/var/lib/mailbridge/mailbridge.db' });
  });

  it('reads a complete production configuration', () => {
    const config = loadConfig({
      PORT: '4000',
      PUBLIC_URL: 'https://mail.example.com/',
      DATABASE_URL: 'postgres://mb:pw@db.internal:5432/mailbridge',
      MAILBRIDGE_KEYS: `k2:${key()},k1:${key()}`,
      MICROSOFT_CLIENT_ID: CLIENT_ID.toUpperCase(),
      MICROSOFT_CLIENT_SECRET: 'abc~secret~value',
      MICROSOFT_TENANT: 'Contoso.onmicrosoft.com',
      MICROSOFT_CLIENT_SECRET_EXPIRES_AT: '2027-03-31',
      MAILBRIDGE_ADMIN_EMAIL: 'Admin@Example.com',
      MAILBRIDGE_ADMIN_PASSWORD: 'correct horse battery',
      WEBHOOK_URL: 'https://app.example.com/hooks',
      WEBHOOK_SECRET: 'w'.repeat(40),
      SMTP_URL: 'smtps://relay%40example.com:p%40ss@smtp.example.com',
      SMTP_FROM: 'Mailbridge <noreply@example.com>',
      LOG_LEVEL: 'DEBUG',
    });
    assert.equal(config.publicUrl, 'https://mail.example.com');
    assert.equal(config.database.dialect, 'postgres');
    assert.ok(config.database.dialect === 'postgres' && config.database.url.reveal().includes('db.internal'));
    assert.equal(config.keyRing?.activeKeyId, 'k2');
    assert.deepEqual(config.keyRing?.keyIds, ['k2', 'k1']);
    assert.equal(config.microsoft.mode, 'microsoft');
    if (config.microsoft.mode !== 'microsoft') return;
    assert.equal(config.microsoft.clientId, CLIENT_ID);
    assert.equal(config.microsoft.clientSecret.reveal(), 'abc~secret~value');
    assert.equal(config.microsoft.tenant, 'contoso.onmicrosoft.com');
    assert.equal(config.microsoft.clientSecretExpiresAt, Date.parse('2027-03-31'));
    assert.equal(config.admin.email, 'admin@example.com');
    assert.equal(config.admin.password?.reveal(), 'correct horse battery');
    assert.equal(config.webhook?.url, 'https://app.example.com/hooks');
    assert.equal(config.smtp?.host, 'smtp.example.com');
    assert.equal(config.smtp?.port, 465);
    assert.equal(config.smtp?.secure, true);
    assert.equal(config.smtp?.user, 'relay@example.com');
    assert.equal(config.smtp?.password?.reveal(), 'p@ss');
    assert.equal(config.logLevel, 'debug');
  });

  it('accepts sqlite: URLs and every tenant form', () => {
    assert.deepEqual(loadConfig({ DATABASE_URL: 'sqlite:./x/y.db' }).database, { dialect: 'sqlite', path: './x/y.db' });
    assert.deepEqual(loadConfig({ DATABASE_URL: 'sqlite:///abs/y.db' }).database, {
      dialect: 'sqlite',
      path: '/abs/y.db',
    });
    assert.deepEqual(loadConfig({ DATABASE_URL: 'sqlite::memory:' }).database, { dialect: 'sqlite', path: ':memory:' });
    assert.equal(loadConfig({ DATABASE_URL: 'postgresql://h/db' }).database.dialect, 'postgres');
    for (const tenant of ['common', 'organizations', 'consumers', CLIENT_ID, 'contoso.com']) {
      assert.equal(loadConfig({ MICROSOFT_TENANT: tenant }).microsoft.tenant, tenant);
    }
  });

  it('treats empty values as unset', () => {
    const config = loadConfig({ PORT: '', MICROSOFT_CLIENT_ID: '  ', MAILBRIDGE_KEYS: '' });
    assert.equal(config.port, 3000);
    assert.equal(config.microsoft.mode, 'emulator');
  });

  it('returns a deeply frozen object', () => {
    const config = loadConfig({ MAILBRIDGE_KEYS: `k1:${key()}` });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.microsoft));
    assert.ok(Object.isFrozen(config.database));
    assert.throws(() => {
      (config as { port: number }).port = 1;
    }, TypeError);
  });

  it('lists every problem at once, each with the variable and a fix, in one CONFIG_INVALID error', () => {
    let caught: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        DATABASE_URL: 'mysql://root:hunter2@db/x',
        MAILBRIDGE_KEYS: 'k1:tooshort',
        MICROSOFT_TENANT: 'not a tenant!',
        LOG_LEVEL: 'loud',
        WEBHOOK_URL: 'https://app.example.com/hooks',
      });
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof AppError);
    assert.equal(caught.code, 'CONFIG_INVALID');
    const problems = caught.details?.['problems'] as Array<{ variable: string; message: string }>;
    assert.deepEqual(problems.map((problem) => problem.variable).sort(), [
      'DATABASE_URL',
      'LOG_LEVEL',
      'MAILBRIDGE_KEYS',
      'MICROSOFT_TENANT',
      'PORT',
      'WEBHOOK_URL + WEBHOOK_SECRET',
    ]);
    assert.match(caught.message, /6 problems/);
    for (const problem of problems) assert.ok(caught.message.includes(`${problem.variable}: ${problem.message}`));
    assert.match(caught.message, /openssl rand -base64 32/);
    // A secret inside a bad value is never echoed.
    assert.ok(!caught.message.includes('hunter2'));
  });

  it('reads durations in their units and ports, with their defaults', () => {
    const defaults = loadConfig({});
    assert.equal(defaults.outbox.heldMessageTtlMs, 7 * 86_400_000);
    assert.equal(defaults.outbox.leaseMs, 120_000);
    assert.equal(defaults.ops.shutdownGraceMs, 25_000);
    assert.equal(defaults.ops.opsPort, undefined, 'no ops listener unless asked');
    const set = loadConfig({
      PORT: '8080',
      MAILBRIDGE_OPS_PORT: '0',
      MAILBRIDGE_HELD_MESSAGE_TTL: '36h',
      MAILBRIDGE_OUTBOX_LEASE: '90',
      MAILBRIDGE_SHUTDOWN_GRACE: '500MS',
    });
    assert.equal(set.port, 8080);
    assert.equal(set.ops.opsPort, 0);
    assert.equal(set.outbox.heldMessageTtlMs, 36 * 3_600_000);
    assert.equal(set.outbox.leaseMs, 90_000, 'a bare number is seconds');
    assert.equal(set.ops.shutdownGraceMs, 500);
  });

  it('refuses durations outside their range or units, and ports that are not ports, saying what to write', () => {
    assert.deepEqual(
      problemsOf({
        PORT: '65536',
        MAILBRIDGE_OPS_PORT: '-1',
        MAILBRIDGE_HELD_MESSAGE_TTL: '30s',
        MAILBRIDGE_OUTBOX_LEASE: '2h',
        MAILBRIDGE_SHUTDOWN_GRACE: '11m',
      }),
      [
        { variable: 'PORT', message: '"65536" is not a port; set PORT to an integer from 0 to 65535 (default 3000)' },
        {
          variable: 'MAILBRIDGE_HELD_MESSAGE_TTL',
          message: '"30s" is not a duration from 1 minute to 365 days; use e.g. 7d (default), 36h or 90m',
        },
        {
          variable: 'MAILBRIDGE_OUTBOX_LEASE',
          message: '"2h" is not a duration from 45 seconds to 30 minutes; use e.g. 2m (default) or 60s',
        },
        {
          variable: 'MAILBRIDGE_OPS_PORT',
          message: '"-1" is not a port; set MAILBRIDGE_OPS_PORT to an integer from 0 to 65535, or unset it',
        },
        {
          variable: 'MAILBRIDGE_SHUTDOWN_GRACE',
          message: '"11m" is not a duration from 0 to 10 minutes; use e.g. 25s (default), 500ms or 2m',
        },
      ],
    );
  });

  it('refuses a client secret expiry date that does not exist instead of moving it to another day', () => {
    const app = {
      MICROSOFT_CLIENT_ID: CLIENT_ID,
      MICROSOFT_CLIENT_SECRET: 'abc~secret~value',
      MAILBRIDGE_KEYS: `k1:${key()}`,
    };
    assert.deepEqual(problemsOf({ ...app, MICROSOFT_CLIENT_SECRET_EXPIRES_AT: '2027-02-30' }), [
      {
        variable: 'MICROSOFT_CLIENT_SECRET_EXPIRES_AT',
        message: '"2027-02-30" is not a real date: 2027-02-30 does not exist (February 2027 has 28 days)',
      },
    ]);
    assert.deepEqual(problemsOf({ ...app, MICROSOFT_CLIENT_SECRET_EXPIRES_AT: '2027-03-31T24:00:00Z' }), [
      {
        variable: 'MICROSOFT_CLIENT_SECRET_EXPIRES_AT',
        message: '"2027-03-31T24:00:00Z" is not a real date: hour 24 does not exist (hours are 00 to 23)',
      },
    ]);
    const leapDay = loadConfig({ ...app, MICROSOFT_CLIENT_SECRET_EXPIRES_AT: '2028-02-29T12:30:00+02:00' });
    assert.ok(leapDay.microsoft.mode === 'microsoft');
    assert.equal(leapDay.microsoft.clientSecretExpiresAt, Date.parse('2028-02-29T10:30:00Z'));
  });

  it('refuses a client id without a secret, a secret without an id, and a Microsoft app without keys', () => {
    assert.deepEqual(
      problemsOf({ MICROSOFT_CLIENT_ID: CLIENT_ID, MAILBRIDGE_KEYS: `k1:${key()}` }).map((p) => p.variable),
      ['MICROSOFT_CLIENT_SECRET'],
    );
    assert.deepEqual(
      problemsOf({ MICROSOFT_CLIENT_SECRET: 's' }).map((p) => p.variable),
      ['MICROSOFT_CLIENT_ID'],
    );
    const noKeys = problemsOf({ MICROSOFT_CLIENT_ID: CLIENT_ID, MICROSOFT_CLIENT_SECRET: 's' });
    assert.deepEqual(
      noKeys.map((p) => p.variable),
      ['MAILBRIDGE_KEYS'],
    );
    assert.match(noKeys[0]!.message, /openssl rand -base64 32/);
  });

  it('accepts a simulation clock file only with an emulator on this machine as Microsoft', () => {
    const app = { MICROSOFT_CLIENT_ID: CLIENT_ID, MICROSOFT_CLIENT_SECRET: 's', MAILBRIDGE_KEYS: `k1:${key()}` };
    const clockFile = { MAILBRIDGE_EMULATOR_CLOCK_FILE: '/tmp/simulation-clock' };
    const emulator = { MICROSOFT_LOGIN_URL: 'http://127.0.0.1:4100', MICROSOFT_GRAPH_URL: 'http://localhost:4100' };
    assert.equal(loadConfig({ ...app, ...emulator, ...clockFile }).emulatorClockFile, '/tmp/simulation-clock');
    assert.equal(loadConfig({ ...app, ...emulator }).emulatorClockFile, undefined);
    // Refused (fail closed): real Microsoft (the defaults, or named), one of the two hosts elsewhere, no app at all
    // (the built-in emulator keeps real time).
    for (const env of [
      { ...app, ...clockFile },
      {
        ...app,
        ...clockFile,
        MICROSOFT_LOGIN_URL: 'https://login.microsoftonline.com',
        MICROSOFT_GRAPH_URL: 'https://graph.microsoft.com',
      },
      { ...app, ...clockFile, ...emulator, MICROSOFT_GRAPH_URL: 'https://graph.microsoft.com' },
      { ...app, ...clockFile, ...emulator, MICROSOFT_LOGIN_URL: 'http://10.0.0.5:4100' },
      { ...clockFile, ...emulator },
    ]) {
      const problems = problemsOf(env);
      assert.deepEqual(
        problems.map((p) => p.variable),
        ['MAILBRIDGE_EMULATOR_CLOCK_FILE'],
      );
      assert.match(problems[0]!.message, /simulations only/);
    }
  });

  it('refuses malformed key rings with reasons that never contain key material', () => {
    const good = key();
    const cases: Array<[string, RegExp]> = [
      [`k1:${randomBytes(16).toString('base64')}`, /16 bytes; it must be exactly 32 bytes/],
      [`bad id!:${good}`, /id must be 1-32/],
      [`k1:${good},k1:${key()}`, /appears twice/],
      [`k1:${good},k2:${good}`, /same key as "k1"/],
      ['k1:!!!notbase64!!!', /not valid base64/],
      [good, /not in the form <id>:<base64 key>/],
    ];
    for (const [ring, expected] of cases) {
      const [problem] = problemsOf({ MAILBRIDGE_KEYS: ring });
      assert.equal(problem?.variable, 'MAILBRIDGE_KEYS');
      assert.match(problem!.message, expected);
      assert.ok(!problem!.message.includes(good), 'the key must not appear in the message');
    }
  });

  it('refuses plain http PUBLIC_URL on a public host with a real Microsoft app', () => {
    const base = { MICROSOFT_CLIENT_ID: CLIENT_ID, MICROSOFT_CLIENT_SECRET: 's', MAILBRIDGE_KEYS: `k1:${key()}` };
    assert.deepEqual(
      problemsOf({ ...base, PUBLIC_URL: 'http://mail.example.com' }).map((p) => p.variable),
      ['PUBLIC_URL'],
    );
    assert.equal(loadConfig({ ...base, PUBLIC_URL: 'http://localhost:3000' }).publicUrl, 'http://localhost:3000');
  });

  it('warns about unknown MAILBRIDGE_ variables', () => {
    const config = loadConfig({ MAILBRIDGE_KEY: 'x' });
    assert.deepEqual(config.warnings, [
      'MAILBRIDGE_KEY is not a mailbridge setting (did you mean MAILBRIDGE_KEYS?); it is ignored',
    ]);
  });

  it('never prints a secret: JSON, inspect, String and template literals show [redacted]', () => {
    const ring = `k1:${key()}`;
    const config = loadConfig({
      MICROSOFT_CLIENT_ID: CLIENT_ID,
      MICROSOFT_CLIENT_SECRET: 'super-secret-client-value',
      MAILBRIDGE_KEYS: ring,
      MAILBRIDGE_ADMIN_EMAIL: 'admin@example.com',
      MAILBRIDGE_ADMIN_PASSWORD: 'admin-password-value',
      WEBHOOK_URL: 'https://app.example.com/hooks',
      WEBHOOK_SECRET: 'webhook-secret-value-0123456789abcdef',
      SMTP_URL: 'smtp://user:smtp-password-value@smtp.example.com:2525',
      SMTP_FROM: 'noreply@example.com',
      DATABASE_URL: 'postgres://mb:db-password-value@db/x',
    });
    const secrets = [
      'super-secret-client-value',
      'admin-password-value',
      'webhook-secret-value',
      'smtp-password-value',
      'db-password-value',
      ring.slice(3),
    ];
    for (const rendered of [JSON.stringify(config), inspect(config, { depth: 10 }), `${config.admin.password}`]) {
      for (const secret of secrets) assert.ok(!rendered.includes(secret), `leaked ${secret} in ${rendered}`);
    }
    assert.match(JSON.stringify(config), /"clientSecret":"\[redacted\]"/);
    assert.equal(String(new Secret('x')), '[redacted]');
    assert.equal(inspect(new Secret('x')), '[redacted]');
    assert.equal(new Secret('x').reveal(), 'x');
  });
});
