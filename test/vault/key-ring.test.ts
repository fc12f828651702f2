import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { Secret } from '../../src/platform/secret.js';
import { generateKeyRingText, parseKeyRing, parseKeyRingOrThrow } from '../../src/vault/key-ring.js';
import { resolveKeyRing } from '../../src/vault/resolve-key-ring.js';
import { PlaintextSecret } from '../../src/vault/secret-types.js';
import { VaultError } from '../../src/vault/vault-error.js';

const material = (): Buffer => randomBytes(32);

describe('key ring', () => {
  it('parses several keys, standard or URL-safe base64, the first active', () => {
    const a = material();
    const b = material();
    const ring = parseKeyRingOrThrow(` new-2026:${a.toString('base64')} , old_2025:${b.toString('base64url')},`);
    assert.equal(ring.activeKeyId, 'new-2026');
    assert.deepEqual(ring.keyIds, ['new-2026', 'old_2025']);
    assert.ok(ring.has('old_2025'));
    assert.ok(!ring.has('other'));
  });

  it('identifies a key by a check value that is stable, distinct per key, and not the key', () => {
    const a = material();
    const ring = parseKeyRingOrThrow(`k1:${a.toString('base64')}`);
    const same = parseKeyRingOrThrow(`k1:${a.toString('base64')}`);
    const other = parseKeyRingOrThrow(`k1:${material().toString('base64')}`);
    assert.equal(ring.checkValue('k1'), same.checkValue('k1'));
    assert.notEqual(ring.checkValue('k1'), other.checkValue('k1'));
    assert.ok(ring.matchesCheckValue('k1', same.checkValue('k1')));
    assert.ok(!ring.matchesCheckValue('k1', other.checkValue('k1')));
    for (const encoding of ['base64', 'base64url', 'hex'] as const) {
      assert.ok(!ring.checkValue('k1').includes(a.toString(encoding)));
    }
  });

  it('never shows key material in JSON, inspect or String', () => {
    const a = material();
    const ring = parseKeyRingOrThrow(`k1:${a.toString('base64')}`);
    for (const rendered of [JSON.stringify({ ring }), inspect(ring, { depth: 5, showHidden: true }), String(ring)]) {
      assert.ok(!rendered.includes(a.toString('base64')), rendered);
      assert.ok(!rendered.includes(a.toString('hex')), rendered);
      assert.match(rendered, /k1/);
    }
  });

  it('lists every problem of a malformed ring, with how to make a key', () => {
    const parsed = parseKeyRing(`k1:${randomBytes(31).toString('base64')},k1:${material().toString('base64')},:x`);
    assert.equal(parsed.ok, false);
    if (parsed.ok) return;
    assert.equal(parsed.problems.length, 3);
    assert.throws(
      () => parseKeyRingOrThrow('nope'),
      (error: unknown) =>
        error instanceof VaultError &&
        error.code === 'VAULT_KEY_RING_INVALID' &&
        /openssl rand -base64 32/.test(error.message),
    );
    assert.equal(parseKeyRing('').ok, false);
    assert.equal(parseKeyRing(' , ').ok, false);
  });

  it('generates ring text that parses', () => {
    const text = generateKeyRingText('local');
    assert.match(text, /^local:[A-Za-z0-9+/]{43}=$/);
    assert.equal(parseKeyRingOrThrow(text).activeKeyId, 'local');
  });
});

describe('resolveKeyRing', () => {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'mailbridge-keys-'));
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const capture = () => {
    const warnings: string[] = [];
    return { logger: { warn: (_object: unknown, message?: string) => warnings.push(message ?? '') }, warnings };
  };
  const emulator = { mode: 'emulator', tenant: 'common', loginUrl: 'x', graphUrl: 'y' } as const;

  it('uses MAILBRIDGE_KEYS when set, and writes nothing', () => {
    const dataDir = join(tempDir(), 'data');
    const keyRing = parseKeyRingOrThrow(`k1:${material().toString('base64')}`);
    const { logger, warnings } = capture();
    const resolved = resolveKeyRing({ keyRing, microsoft: emulator, dataDir }, logger);
    assert.equal(resolved.source, 'env');
    assert.equal(resolved.keyRing, keyRing);
    assert.deepEqual(warnings, []);
    assert.throws(() => statSync(dataDir), { code: 'ENOENT' });
  });

  it('in emulator mode generates a 0600 dev key once, warns loudly, and reuses it', () => {
    const dataDir = join(tempDir(), 'nested', 'data');
    const { logger, warnings } = capture();
    const first = resolveKeyRing({ keyRing: undefined, microsoft: emulator, dataDir }, logger);
    assert.equal(first.source, 'dev-file-created');
    assert.equal(first.path, join(dataDir, 'master.key'));
    assert.equal(statSync(first.path!).mode & 0o777, 0o600);
    assert.match(readFileSync(first.path!, 'utf8'), /^local:[A-Za-z0-9+/]{43}=\n$/);
    assert.match(warnings[0]!, /GENERATED a local encryption key .* for local use only/);
    assert.match(warnings[0]!, /set MAILBRIDGE_KEYS/);

    const second = resolveKeyRing({ keyRing: undefined, microsoft: emulator, dataDir }, logger);
    assert.equal(second.source, 'dev-file');
    assert.equal(second.keyRing.checkValue('local'), first.keyRing.checkValue('local'));
    assert.match(warnings[1]!, /Using the local encryption key .* for local use only/);
  });

  it('refuses to start with a Microsoft app and no key, and refuses a damaged dev key file', () => {
    const microsoft = {
      ...emulator,
      mode: 'microsoft',
      clientId: '5f3c2d1e-8a4b-4c6d-9e7f-0a1b2c3d4e5f',
      clientSecret: new Secret('s'),
      clientSecretExpiresAt: undefined,
    } as const;
    const dataDir = tempDir();
    assert.throws(
      () => resolveKeyRing({ keyRing: undefined, microsoft, dataDir }, capture().logger),
      (error: unknown) =>
        error instanceof VaultError &&
        error.code === 'VAULT_KEY_RING_MISSING' &&
        /openssl rand -base64 32/.test(error.message),
    );
    assert.throws(() => statSync(join(dataDir, 'master.key')), { code: 'ENOENT' });

    writeFileSync(join(dataDir, 'master.key'), 'local:short\n', { mode: 0o600 });
    assert.throws(
      () => resolveKeyRing({ keyRing: undefined, microsoft: emulator, dataDir }, capture().logger),
      (error: unknown) =>
        error instanceof VaultError && error.code === 'VAULT_KEY_RING_INVALID' && error.message.includes('master.key'),
    );
  });
});

describe('PlaintextSecret', () => {
  it('redacts itself and has one way in and one way out', () => {
    const token = PlaintextSecret.from('EwA-access-token-value');
    assert.equal(token.reveal(), 'EwA-access-token-value');
    assert.equal(JSON.stringify({ token }), '{"token":"[redacted]"}');
    assert.equal(inspect({ token }), '{ token: [redacted] }');
    assert.equal(`${token}`, '[redacted]');
    assert.ok(PlaintextSecret.isPlaintextSecret(token));
    assert.ok(!PlaintextSecret.isPlaintextSecret(new Secret('x')));
  });
});
