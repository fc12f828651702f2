import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { encodedForms, scanForSecrets } from './secret-scanner.js';

// The scan must be able to fail: these plant secrets where the real scan looks, and check it finds them.
describe('secret scanner', () => {
  const token = `EwB4A8l6BAAU${randomBytes(48).toString('base64url')}`;
  const secret = { name: 'refresh token', value: token };

  test('finds a secret as is, and in each encoded form, inside other text', () => {
    for (const { form, bytes } of encodedForms(token)) {
      const haystack = Buffer.concat([
        randomBytes(100),
        Buffer.from(' x='),
        bytes,
        Buffer.from('&y=1 '),
        randomBytes(50),
      ]);
      const findings = scanForSecrets([{ name: 'buffer', content: haystack }], [secret]);
      assert.ok(
        findings.some((f) => f.form === form),
        `form ${form} not found`,
      );
    }
  });

  test('finds a secret inside a longer base64 text at every byte alignment', () => {
    for (const prefix of ['', 'a', 'ab', 'abc', '{"refresh_token":"']) {
      const encoded = Buffer.from(`${prefix}${token}","more":"stuff"}`).toString('base64');
      const findings = scanForSecrets([{ name: 'b64', content: `data: ${encoded}` }], [secret]);
      assert.ok(findings.length > 0, `not found after prefix ${JSON.stringify(prefix)}`);
      const url = Buffer.from(`${prefix}${token}!`).toString('base64url');
      assert.ok(scanForSecrets([{ name: 'b64url', content: url }], [secret]).length > 0, `base64url, ${prefix}`);
    }
  });

  test('finds binary key material as raw bytes and encodings, and reports where', () => {
    const key = randomBytes(32);
    const findings = scanForSecrets(
      [
        { name: 'raw', content: Buffer.concat([randomBytes(10), key]) },
        { name: 'text', content: `MAILBRIDGE_KEYS=k1:${key.toString('base64')}` },
      ],
      [{ name: 'vault key', value: key }],
    );
    assert.ok(findings.some((f) => f.haystack === 'raw' && f.form === 'raw'));
    assert.ok(findings.some((f) => f.haystack === 'text' && f.form.startsWith('base64')));
    assert.equal(findings.find((f) => f.haystack === 'raw')?.offset, 10);
    assert.ok(findings.some((f) => f.haystack === 'text'));
    assert.equal(findings.find((f) => f.haystack === 'text')?.context.includes(key.toString('base64')), false);
  });

  test('nothing is found where nothing was planted', () => {
    const noise = Buffer.concat(Array.from({ length: 50 }, () => randomBytes(1000)));
    assert.deepEqual(scanForSecrets([{ name: 'noise', content: noise }], [secret]), []);
    assert.deepEqual(scanForSecrets([{ name: 'prefix only', content: token.slice(0, 20) }], [secret]), []);
  });

  test('refuses secrets too short to scan for', () => {
    assert.throws(() => encodedForms('abc'), /too short/);
  });

  test('finds a secret written to a SQLite file (main file or WAL), as the service scan reads it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailbridge-scan-'));
    try {
      const path = join(dir, 'planted.db');
      const db = new SqliteDatabase(path);
      db.pragma('journal_mode = WAL');
      db.exec('create table t (id integer primary key, v text)');
      db.prepare('insert into t (v) values (?)').run(`padding ${token} padding`);
      const haystacks = [
        { name: 'db', content: readFileSync(path) },
        { name: 'db-wal', content: readFileSync(`${path}-wal`) },
      ];
      assert.ok(scanForSecrets(haystacks, [secret]).length > 0, 'the planted token is found in the file bytes');
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
