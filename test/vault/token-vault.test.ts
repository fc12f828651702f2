import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { inspect } from 'node:util';
import { withTransaction } from '../../src/db/transaction.js';
import { ManualClock } from '../../src/platform/clock.js';
import { type KeyRing, parseKeyRingOrThrow } from '../../src/vault/key-ring.js';
import { PlaintextSecret, type SealedSecret } from '../../src/vault/secret-types.js';
import { assertKeyRingOpensData, type RotationProgress, TokenVault } from '../../src/vault/token-vault.js';
import { VaultError, type VaultErrorCode } from '../../src/vault/vault-error.js';
import { forEachDatabase } from '../support/databases.js';

const material = (): string => randomBytes(32).toString('base64');
const K1 = material();
const K2 = material();
const ringOf = (text: string): KeyRing => parseKeyRingOrThrow(text);
const RING_1 = ringOf(`k1:${K1}`);
const RING_21 = ringOf(`k2:${K2},k1:${K1}`);
const RING_2 = ringOf(`k2:${K2}`);

let counter = 0;
const subject = (label: string): string => `acc_${label}_${++counter}_${randomBytes(3).toString('hex')}`;
const secret = (value: string): PlaintextSecret => PlaintextSecret.from(value);

async function rejectsWith(promise: Promise<unknown>, codes: VaultErrorCode | VaultErrorCode[]): Promise<VaultError> {
  const expected = Array.isArray(codes) ? codes : [codes];
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof VaultError, `expected a VaultError ${expected.join('|')}, got ${String(caught)}`);
  assert.ok(expected.includes(caught.code), `expected ${expected.join('|')}, got ${caught.code}: ${caught.message}`);
  return caught;
}

/** Replaces the character at `index` of a base64url string with another valid one. */
function flip(text: string, index: number): string {
  const replacement = text[index] === 'A' ? 'B' : 'A';
  return text.slice(0, index) + replacement + text.slice(index + 1);
}

forEachDatabase('token vault', (getDb) => {
  const clock = new ManualClock(1_750_000_000_000);
  const vault = new TokenVault({ keyRing: RING_1, clock });

  it('seals and opens a value, in the documented v1 format, never containing the plaintext', async () => {
    const { db } = getDb();
    const id = subject('roundtrip');
    await vault.createDataKey(db, id);
    const plaintext = 'M.C522_BAY.0.U.-refresh-token-✓-ünïcode';
    const sealed = await vault.seal(db, id, 'refresh_token', secret(plaintext));
    assert.match(sealed, /^v1\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    assert.ok(!sealed.includes(plaintext) && !sealed.includes('refresh-token'));
    const again = await vault.seal(db, id, 'refresh_token', secret(plaintext));
    assert.notEqual(again, sealed, 'a fresh IV per seal');
    const opened = await vault.open(db, id, 'refresh_token', sealed);
    assert.equal(opened.reveal(), plaintext);
    assert.equal((await vault.open(db, id, 'refresh_token', again)).reveal(), plaintext);
    assert.equal(JSON.stringify({ opened }), '{"opened":"[redacted]"}');
    assert.ok(!inspect(opened).includes(plaintext));
    const empty = await vault.seal(db, id, 'note', secret(''));
    assert.equal((await vault.open(db, id, 'note', empty)).reveal(), '');
  });

  it('seals several fields at once, each bound to its own field', async () => {
    const { db } = getDb();
    const id = subject('fields');
    await vault.createDataKey(db, id);
    const [access, refresh] = await vault.sealFields(db, id, [
      ['access_token', secret('access-plaintext')],
      ['refresh_token', secret('refresh-plaintext')],
    ]);
    assert.ok(access && refresh);
    assert.equal((await vault.open(db, id, 'access_token', access)).reveal(), 'access-plaintext');
    assert.equal((await vault.open(db, id, 'refresh_token', refresh)).reveal(), 'refresh-plaintext');
    await rejectsWith(vault.open(db, id, 'refresh_token', access), 'VAULT_TAMPERED');
    await rejectsWith(
      vault.sealFields(db, subject('no-key'), [['access_token', secret('x')]]),
      'VAULT_DATA_KEY_MISSING',
    );
    const fresh = subject('first-seal');
    const [first] = await vault.sealFields(db, fresh, [['access_token', secret('first')]], {
      createDataKeyIfMissing: true,
    });
    assert.ok(first && (await vault.hasDataKey(db, fresh)), 'the data key was created');
    assert.equal((await vault.open(db, fresh, 'access_token', first)).reveal(), 'first');
  });

  it('stores only the wrapped data key, bound to its subject', async () => {
    const { db } = getDb();
    const id = subject('stored');
    await vault.createDataKey(db, id);
    const row = await db
      .selectFrom('vault_data_keys')
      .selectAll()
      .where('subject_id', '=', id)
      .executeTakeFirstOrThrow();
    assert.equal(row.wrapping_key_id, 'k1');
    assert.match(row.wrapped_key, /^[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}$/);
    assert.equal(row.created_at, clock.now());
    assert.equal(row.rotated_at, null);
    const keys = await db.selectFrom('vault_keys').selectAll().where('key_id', '=', 'k1').executeTakeFirstOrThrow();
    assert.equal(keys.check_value, RING_1.checkValue('k1'));
    assert.ok(!keys.check_value.includes(K1) && !keys.check_value.includes(Buffer.from(K1, 'base64').toString('hex')));
  });

  it('creates a data key once: createDataKey refuses a second, ensureDataKey is idempotent', async () => {
    const { db } = getDb();
    const id = subject('once');
    assert.equal(await vault.hasDataKey(db, id), false);
    assert.equal(await vault.ensureDataKey(db, id), true);
    assert.equal(await vault.ensureDataKey(db, id), false);
    await rejectsWith(vault.createDataKey(db, id), 'VAULT_DATA_KEY_EXISTS');
    assert.equal(await vault.hasDataKey(db, id), true);
    await rejectsWith(vault.seal(db, subject('nokey'), 'f', secret('x')), 'VAULT_DATA_KEY_MISSING');
    await rejectsWith(vault.seal(db, '', 'f', secret('x')), 'VAULT_INVALID_INPUT');
    await rejectsWith(vault.seal(db, id, 'bad field!', secret('x')), 'VAULT_INVALID_INPUT');
  });

  it('rejects a tampered value: every part, truncation, extra parts, other versions', async () => {
    const { db } = getDb();
    const id = subject('tamper');
    await vault.createDataKey(db, id);
    const sealed = await vault.seal(db, id, 'refresh_token', secret('the-refresh-token-value'));
    const [version, dataKeyId, iv, ciphertext, tag] = sealed.split('.') as [string, string, string, string, string];
    const variants: Array<[string, string, VaultErrorCode | VaultErrorCode[]]> = [
      ['iv', [version, dataKeyId, flip(iv, 3), ciphertext, tag].join('.'), 'VAULT_TAMPERED'],
      ['ciphertext', [version, dataKeyId, iv, flip(ciphertext, 5), tag].join('.'), 'VAULT_TAMPERED'],
      ['tag', [version, dataKeyId, iv, ciphertext, flip(tag, 0)].join('.'), 'VAULT_TAMPERED'],
      ['short tag', [version, dataKeyId, iv, ciphertext, tag.slice(0, 11)].join('.'), 'VAULT_TAMPERED'],
      ['truncated ciphertext', [version, dataKeyId, iv, ciphertext.slice(0, -2), tag].join('.'), 'VAULT_TAMPERED'],
      ['non-base64', [version, dataKeyId, iv, `${ciphertext}!`, tag].join('.'), 'VAULT_TAMPERED'],
      ['missing part', [version, dataKeyId, iv, ciphertext].join('.'), 'VAULT_TAMPERED'],
      ['extra part', `${sealed}.AAAA`, 'VAULT_TAMPERED'],
      ['not sealed', 'plaintext-refresh-token', 'VAULT_TAMPERED'],
      ['future version', ['v2', dataKeyId, iv, ciphertext, tag].join('.'), 'VAULT_UNSUPPORTED_VERSION'],
      // Another data key id: either a key that no longer exists or a modification; never opens.
      [
        'data key id',
        [version, flip(dataKeyId, 4), iv, ciphertext, tag].join('.'),
        ['VAULT_TAMPERED', 'VAULT_DATA_KEY_DESTROYED'],
      ],
    ];
    for (const [label, value, code] of variants) {
      assert.notEqual(value, sealed, label);
      const error = await rejectsWith(vault.open(db, id, 'refresh_token', value as SealedSecret), code);
      assert.ok(!error.message.includes('the-refresh-token-value'), label);
    }
    assert.equal((await vault.open(db, id, 'refresh_token', sealed)).reveal(), 'the-refresh-token-value');
  });

  it('rejects a value moved to another field or to another subject', async () => {
    const { db } = getDb();
    const alice = subject('alice');
    const bob = subject('bob');
    await vault.createDataKey(db, alice);
    await vault.createDataKey(db, bob);
    const aliceRefresh = await vault.seal(db, alice, 'refresh_token', secret('alice-refresh'));
    const bobRefresh = await vault.seal(db, bob, 'refresh_token', secret('bob-refresh'));
    await rejectsWith(vault.open(db, alice, 'access_token', aliceRefresh), 'VAULT_TAMPERED');
    await rejectsWith(vault.open(db, bob, 'refresh_token', aliceRefresh), 'VAULT_TAMPERED');
    await rejectsWith(vault.open(db, alice, 'refresh_token', bobRefresh), 'VAULT_TAMPERED');
    assert.equal((await vault.open(db, bob, 'refresh_token', bobRefresh)).reveal(), 'bob-refresh');
  });

  it('rejects a wrapped data key that was modified or copied to another subject row', async () => {
    const { db } = getDb();
    const victim = subject('victim');
    const attacker = subject('attacker');
    await vault.createDataKey(db, victim);
    await vault.createDataKey(db, attacker);
    const sealed = await vault.seal(db, victim, 'refresh_token', secret('victim-token'));
    const rows = await db
      .selectFrom('vault_data_keys')
      .selectAll()
      .where('subject_id', 'in', [victim, attacker])
      .execute();
    const victimRow = rows.find((row) => row.subject_id === victim)!;
    const attackerRow = rows.find((row) => row.subject_id === attacker)!;
    // The attacker's row gets the victim's wrapped key: unwrapping is bound to subject and data key id.
    await db
      .updateTable('vault_data_keys')
      .set({ wrapped_key: victimRow.wrapped_key })
      .where('subject_id', '=', attacker)
      .execute();
    await rejectsWith(vault.seal(db, attacker, 'refresh_token', secret('x')), 'VAULT_TAMPERED');
    // Modify the victim's wrapped key in place.
    const [iv, ciphertext, tag] = victimRow.wrapped_key.split('.') as [string, string, string];
    await db
      .updateTable('vault_data_keys')
      .set({ wrapped_key: [iv, flip(ciphertext, 10), tag].join('.') })
      .where('subject_id', '=', victim)
      .execute();
    await rejectsWith(vault.open(db, victim, 'refresh_token', sealed), 'VAULT_TAMPERED');
    await db
      .updateTable('vault_data_keys')
      .set({ wrapped_key: victimRow.wrapped_key })
      .where('subject_id', '=', victim)
      .execute();
    assert.equal((await vault.open(db, victim, 'refresh_token', sealed)).reveal(), 'victim-token');
    assert.notEqual(attackerRow.wrapped_key, victimRow.wrapped_key);
    await vault.destroyDataKey(db, attacker);
  });

  it('crypto-shreds: a destroyed data key is gone, its values never open again, even after a new key', async () => {
    const { db } = getDb();
    const id = subject('shred');
    await vault.createDataKey(db, id);
    const sealed = await vault.seal(db, id, 'refresh_token', secret('shredded-token'));
    // Destroy inside a transaction that fails: nothing happens.
    await assert.rejects(
      withTransaction(db, async (trx) => {
        assert.equal(await vault.destroyDataKey(trx, id), true);
        throw new Error('disconnect failed half-way');
      }),
      /half-way/,
    );
    assert.equal((await vault.open(db, id, 'refresh_token', sealed)).reveal(), 'shredded-token');
    // Destroy for real, in the caller's transaction.
    await withTransaction(db, async (trx) => {
      assert.equal(await vault.destroyDataKey(trx, id), true);
    });
    const left = await db.selectFrom('vault_data_keys').selectAll().where('subject_id', '=', id).execute();
    assert.deepEqual(left, []);
    await rejectsWith(vault.open(db, id, 'refresh_token', sealed), 'VAULT_DATA_KEY_MISSING');
    assert.equal(await vault.destroyDataKey(db, id), false);
    // The same subject connects again (same account id): a new data key, and the old value stays unreadable.
    await vault.createDataKey(db, id);
    await rejectsWith(vault.open(db, id, 'refresh_token', sealed), 'VAULT_DATA_KEY_DESTROYED');
    const fresh = await vault.seal(db, id, 'refresh_token', secret('new-token'));
    assert.equal((await vault.open(db, id, 'refresh_token', fresh)).reveal(), 'new-token');
  });

  it('rotates every data key under the new active key; the old key can then leave the ring', async () => {
    const { db } = getDb();
    const subjects = Array.from({ length: 23 }, () => subject('rotate'));
    const sealed = new Map<string, SealedSecret>();
    for (const id of subjects) {
      await vault.createDataKey(db, id);
      sealed.set(id, await vault.seal(db, id, 'refresh_token', secret(`token-of-${id}`)));
    }
    // One damaged row: rotation reports it and rotates all others.
    const damaged = subject('damaged');
    await vault.createDataKey(db, damaged);
    const damagedRow = await db
      .selectFrom('vault_data_keys')
      .select('wrapped_key')
      .where('subject_id', '=', damaged)
      .executeTakeFirstOrThrow();
    await db
      .updateTable('vault_data_keys')
      .set({ wrapped_key: flip(damagedRow.wrapped_key, 20) })
      .where('subject_id', '=', damaged)
      .execute();
    const before = await db.selectFrom('vault_data_keys').select('wrapping_key_id').execute();
    const oldCount = before.filter((row) => row.wrapping_key_id === 'k1').length;
    assert.ok(oldCount > subjects.length);
    const good = oldCount - 1;

    clock.advance(60_000);
    const rotating = new TokenVault({ keyRing: RING_21, clock });
    const progress: RotationProgress[] = [];
    const result = await rotating.rotateDataKeys(db, { batchSize: 7, onProgress: (p) => progress.push({ ...p }) });
    assert.equal(result.activeKeyId, 'k2');
    assert.equal(result.total, oldCount);
    assert.equal(result.rewrapped, good);
    assert.deepEqual(result.unreadableSubjectIds, [damaged]);
    assert.deepEqual(result.dataKeysByWrappingKey, { k1: 1, k2: good });
    assert.deepEqual(progress[0], { scanned: 0, rewrapped: 0, unreadable: 0, total: oldCount });
    assert.deepEqual(progress.at(-1), { scanned: oldCount, rewrapped: good, unreadable: 1, total: oldCount });
    assert.equal(progress.length, 1 + Math.ceil(oldCount / 7));
    // The damaged subject is unreadable anyway: its owner deletes it, and k1 wraps nothing any more.
    await vault.destroyDataKey(db, damaged);
    const rotated = await db.selectFrom('vault_data_keys').selectAll().where('subject_id', 'in', subjects).execute();
    assert.ok(rotated.every((row) => row.wrapping_key_id === 'k2' && row.rotated_at === clock.now()));

    // k1 removed from the ring: every value still opens, and the start-up check accepts the ring.
    const afterRemoval = new TokenVault({ keyRing: RING_2, clock });
    await assertKeyRingOpensData(db, RING_2);
    for (const id of subjects) {
      assert.equal((await afterRemoval.open(db, id, 'refresh_token', sealed.get(id)!)).reveal(), `token-of-${id}`);
    }
    // A second run has nothing to do.
    const again = await rotating.rotateDataKeys(db, { batchSize: 7 });
    assert.equal(again.total, 0);
    assert.equal(again.rewrapped, 0);
  });

  it('rotates while other work seals, opens, creates and destroys concurrently, with no failure', async () => {
    const { db } = getDb();
    // Start from data under k1 only (the previous test rotated to k2: go back with a ring that has k1 first).
    const back = new TokenVault({ keyRing: ringOf(`k1:${K1},k2:${K2}`), clock });
    await back.rotateDataKeys(db);
    const subjects = Array.from({ length: 60 }, () => subject('busy'));
    const current = new Map<string, { sealed: SealedSecret; plaintext: string }>();
    for (const id of subjects) {
      await vault.createDataKey(db, id);
      const plaintext = `busy-${id}`;
      current.set(id, { sealed: await vault.seal(db, id, 'refresh_token', secret(plaintext)), plaintext });
    }
    // Every process already runs with the new ring (k2 first, k1 kept) before rotation starts.
    const service = new TokenVault({ keyRing: RING_21, clock });
    let rotationDone = false;
    const failures: unknown[] = [];
    let operations = 0;
    let duringRotation = 0;
    const worker = async (seed: number): Promise<void> => {
      let step = seed;
      while ((!rotationDone || operations < 200) && failures.length === 0) {
        // Requests arrive as I/O events; a tight loop of queries would never let the rotation's transaction
        // take SQLite's one connection (Kysely's connection mutex is not fair to waiters).
        await yieldToEventLoop();
        step += 1;
        const id = subjects[(step * 7 + seed) % subjects.length]!;
        const entry = current.get(id)!;
        try {
          const opened = await service.open(db, id, 'refresh_token', entry.sealed);
          assert.equal(opened.reveal(), entry.plaintext);
          if (step % 3 === 0) {
            // Token refresh: a rotated refresh token is sealed and stored in one transaction.
            const plaintext = `busy-${id}-${step}`;
            const sealed = await withTransaction(db, (trx) =>
              service.seal(trx, id, 'refresh_token', secret(plaintext)),
            );
            current.set(id, { sealed, plaintext });
          }
          if (step % 5 === 0) {
            // A new connection, then a disconnect.
            const fresh = subject('fresh');
            await withTransaction(db, async (trx) => {
              await service.createDataKey(trx, fresh);
              const sealed = await service.seal(trx, fresh, 'refresh_token', secret('fresh'));
              assert.equal((await service.open(trx, fresh, 'refresh_token', sealed)).reveal(), 'fresh');
            });
            await withTransaction(db, (trx) => service.destroyDataKey(trx, fresh));
          }
          operations += 1;
          if (!rotationDone) duringRotation += 1;
        } catch (error) {
          failures.push(error);
          return;
        }
      }
    };
    const rotator = new TokenVault({ keyRing: RING_21, clock });
    const workers = [worker(1), worker(2), worker(3)];
    const result = await rotator.rotateDataKeys(db, { batchSize: 4 }).finally(() => {
      rotationDone = true;
    });
    await Promise.all(workers);
    assert.deepEqual(failures, []);
    assert.ok(duringRotation > 0, 'work went on while the rotation ran');
    assert.ok(result.rewrapped >= subjects.length);
    assert.deepEqual(Object.keys(result.dataKeysByWrappingKey), ['k2']);
    const onlyNew = new TokenVault({ keyRing: RING_2, clock });
    for (const id of subjects) {
      const entry = current.get(id)!;
      assert.equal((await onlyNew.open(db, id, 'refresh_token', entry.sealed)).reveal(), entry.plaintext);
    }
  });

  it('refuses a ring with a different key under a known id, or without a key the data needs', async () => {
    const { db } = getDb();
    // By now data keys are wrapped under k2 (previous test) and k1 and k2 are recorded.
    const wrongK2 = ringOf(`k2:${material()}`);
    const error = await rejectsWith(assertKeyRingOpensData(db, wrongK2), 'VAULT_KEY_RING_MISMATCH');
    assert.match(error.message, /key "k2" in MAILBRIDGE_KEYS is not the key that id stood for/);
    assert.ok(!error.message.includes(K2));

    const withoutK2 = ringOf(`k3:${material()},k1:${K1}`);
    const missing = await rejectsWith(assertKeyRingOpensData(db, withoutK2), 'VAULT_KEY_RING_MISMATCH');
    assert.match(missing.message, /data key\(s\) are wrapped under key "k2", which is not in MAILBRIDGE_KEYS/);
    assert.match(missing.message, /mailbridge keys rotate/);

    // Both problems at once, in one message.
    const both = await rejectsWith(assertKeyRingOpensData(db, ringOf(`k1:${material()}`)), 'VAULT_KEY_RING_MISMATCH');
    assert.match(both.message, /key "k1"/);
    assert.match(both.message, /wrapped under key "k2"/);

    // A vault started anyway with the wrong key neither opens nor wraps.
    const id = subject('wrongkey');
    await new TokenVault({ keyRing: RING_2, clock }).createDataKey(db, id);
    const sealed = await new TokenVault({ keyRing: RING_2, clock }).seal(db, id, 'f', secret('v'));
    const wrong = new TokenVault({ keyRing: wrongK2, clock });
    await rejectsWith(wrong.open(db, id, 'f', sealed), 'VAULT_KEY_RING_MISMATCH');
    await rejectsWith(wrong.createDataKey(db, subject('wrongkey')), 'VAULT_KEY_RING_MISMATCH');
    await rejectsWith(new TokenVault({ keyRing: withoutK2, clock }).open(db, id, 'f', sealed), 'VAULT_KEY_UNKNOWN');

    // The right ring passes, and a new key is recorded on first sight.
    const k4 = material();
    const check = await assertKeyRingOpensData(db, ringOf(`k4:${k4},k2:${K2}`));
    assert.deepEqual(check.registered, ['k4']);
    assert.ok((check.dataKeysByWrappingKey['k2'] ?? 0) > 0);
    await rejectsWith(assertKeyRingOpensData(db, ringOf(`k4:${material()},k2:${K2}`)), 'VAULT_KEY_RING_MISMATCH');
  });
});
