import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { it } from 'node:test';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { runKeysRotate } from '../../src/cli/keys-rotate.js';
import { loadConfig } from '../../src/config/load-config.js';
import { withTransaction } from '../../src/db/transaction.js';
import { createLogger } from '../../src/platform/logger.js';
import { parseKeyRingOrThrow } from '../../src/vault/key-ring.js';
import { PlaintextSecret, type SealedSecret } from '../../src/vault/secret-types.js';
import type { RotationResult } from '../../src/vault/token-vault.js';
import { TokenVault } from '../../src/vault/token-vault.js';
import { forEachDatabase, type TestDatabase } from '../support/databases.js';

const ROTATE_PROCESS = fileURLToPath(new URL('./fixtures/keys-rotate-process.ts', import.meta.url));
const material = (): string => randomBytes(32).toString('base64');

function databaseUrl(database: TestDatabase): string {
  return database.config.dialect === 'sqlite' ? `sqlite:${database.config.path}` : database.config.url.reveal();
}

async function seedSubjects(database: TestDatabase, vault: TokenVault, count: number, label: string) {
  const sealed = new Map<string, { value: SealedSecret; plaintext: string }>();
  for (let i = 0; i < count; i++) {
    const id = `acc_${label}_${i}_${randomBytes(3).toString('hex')}`;
    const plaintext = `refresh-${id}`;
    const value = await withTransaction(database.db, async (trx) => {
      await vault.createDataKey(trx, id);
      return vault.seal(trx, id, 'refresh_token', PlaintextSecret.from(plaintext));
    });
    sealed.set(id, { value, plaintext });
  }
  return sealed;
}

forEachDatabase('mailbridge keys rotate', (getDb) => {
  const k1 = material();
  const k2 = material();

  it('re-wraps every data key in another process while this one keeps sealing and opening', async () => {
    const database = getDb();
    const old = new TokenVault({ keyRing: parseKeyRingOrThrow(`k1:${k1}`) });
    const sealed = await seedSubjects(database, old, 120, 'cli');

    const child = spawn(process.execPath, ['--import', 'tsx', ROTATE_PROCESS], {
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl(database),
        MAILBRIDGE_KEYS: `k2:${k2},k1:${k1}`,
        ROTATE_BATCH_SIZE: '3',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += String(chunk);
    });
    child.stderr.on('data', (chunk) => {
      stderr += String(chunk);
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let running = true;
    void exited.then(() => {
      running = false;
    });

    // This process is the service: it already runs with the new ring (k2 first, k1 kept).
    const service = new TokenVault({ keyRing: parseKeyRingOrThrow(`k2:${k2},k1:${k1}`) });
    const ids = [...sealed.keys()];
    const failures: unknown[] = [];
    let operations = 0;
    for (let step = 0; running && failures.length === 0; step++) {
      await yieldToEventLoop();
      const id = ids[step % ids.length]!;
      const entry = sealed.get(id)!;
      try {
        assert.equal((await service.open(database.db, id, 'refresh_token', entry.value)).reveal(), entry.plaintext);
        if (step % 4 === 0) {
          const plaintext = `${entry.plaintext}-${step}`;
          const value = await withTransaction(database.db, (trx) =>
            service.seal(trx, id, 'refresh_token', PlaintextSecret.from(plaintext)),
          );
          sealed.set(id, { value, plaintext });
        }
        operations += 1;
      } catch (error) {
        failures.push(error);
      }
    }
    assert.equal(await exited, 0, stderr);
    assert.deepEqual(failures, []);
    assert.ok(operations > 0);

    const result = JSON.parse(stdout) as RotationResult;
    assert.equal(result.activeKeyId, 'k2');
    assert.equal(result.rewrapped, 120);
    assert.deepEqual(result.unreadableSubjectIds, []);
    assert.deepEqual(result.dataKeysByWrappingKey, { k2: 120 });
    // Not a terminal: a line per tenth, ending at 100%, then the summary.
    assert.match(stderr, /\[#{30}\] 100% 120\/120 data keys/);
    assert.match(stderr, /Re-wrapped 120 data key\(s\) under "k2"/);
    assert.match(stderr, /you can remove "k1" from MAILBRIDGE_KEYS/);
    assert.ok(!stderr.includes(k1) && !stderr.includes(k2) && !stdout.includes(k2));

    const onlyK2 = new TokenVault({ keyRing: parseKeyRingOrThrow(`k2:${k2}`) });
    for (const [id, entry] of sealed) {
      assert.equal((await onlyK2.open(database.db, id, 'refresh_token', entry.value)).reveal(), entry.plaintext);
    }
  });

  it('draws the progress bar in place on a terminal and refuses a ring that cannot open the data', async () => {
    const database = getDb();
    let output = '';
    const terminal = Object.assign(
      new Writable({
        write(chunk, _encoding, callback) {
          output += String(chunk);
          callback();
        },
      }),
      { isTTY: true },
    );
    const silent = createLogger({ logLevel: 'silent' });
    const k3 = material();
    const config = loadConfig({ DATABASE_URL: databaseUrl(database), MAILBRIDGE_KEYS: `k3:${k3},k2:${k2}` });
    const result = await runKeysRotate(config, { stderr: terminal, batchSize: 50, logger: silent });
    assert.equal(result.rewrapped, 120);
    assert.match(output, /^\r\[\.{30}\] 0% 0\/120 data keys\r\[#{13}/);
    assert.match(output, /\r\[#{30}\] 100% 120\/120 data keys\n/);

    // A wrong key under a known id: nothing is touched.
    const wrong = loadConfig({ DATABASE_URL: databaseUrl(database), MAILBRIDGE_KEYS: `k3:${material()}` });
    await assert.rejects(runKeysRotate(wrong, { stderr: terminal, logger: silent }), {
      code: 'VAULT_KEY_RING_MISMATCH',
    });
    const rows = await database.db.selectFrom('vault_data_keys').select('wrapping_key_id').execute();
    assert.ok(rows.every((row) => row.wrapping_key_id === 'k3'));
  });
});
