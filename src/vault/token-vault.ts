import { randomBytes } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { withTransaction } from '../db/transaction.js';
import { type Clock, systemClock } from '../platform/clock.js';
import {
  decodeBase64UrlOrThrow,
  decryptAesGcmOrThrow,
  encryptAesGcm,
  IV_BYTES,
  KEY_BYTES,
  TAG_BYTES,
} from './aes-gcm.js';
import type { KeyRing } from './key-ring.js';
import { PlaintextSecret, type SealedSecret } from './secret-types.js';
import { VaultError } from './vault-error.js';

/**
 * The token vault: envelope encryption with AES-256-GCM (docs/engineering.md §5, §6; issue 3 item 5).
 *
 * - Each subject (an account, a connect session) has its own random 32-byte **data key**, stored in
 *   `vault_data_keys` wrapped (AES-256-GCM) under the active key of the key ring, with associated data binding it to
 *   the subject and its data key id. Destroying the row crypto-shreds every value sealed for the subject.
 * - A **sealed value** is the string `v1.<dataKeyId>.<iv>.<ciphertext>.<tag>`:
 *     v1          format version
 *     dataKeyId   the id of the data key that sealed it (22 chars base64url, random): a value from a destroyed
 *                 data key is recognised as such even after the subject got a new one
 *     iv          12 random bytes, base64url
 *     ciphertext  AES-256-GCM of the UTF-8 plaintext, base64url (may be empty)
 *     tag         the 16-byte GCM tag, base64url
 *   The associated data is JSON ["mailbridge/vault/value/v1", dataKeyId, subjectId, field], so the header is
 *   authenticated and a value cannot be moved to another subject (row) or another field.
 * - **Rotation** re-wraps data keys under the new active key; sealed values never change (no big-bang
 *   re-encryption), and readers open values whichever ring key their data key is wrapped under.
 *
 * Every method takes the executor to run on (a Kysely instance or a transaction), so callers put vault work in the
 * same transaction as the rows that hold the sealed values.
 */
export class TokenVault {
  readonly keyRing: KeyRing;
  readonly #clock: Clock;

  constructor(options: { keyRing: KeyRing; clock?: Clock }) {
    this.keyRing = options.keyRing;
    this.#clock = options.clock ?? systemClock;
  }

  /** Creates the subject's data key. Throws VAULT_DATA_KEY_EXISTS when it has one. */
  async createDataKey(db: Kysely<Database>, subjectId: string): Promise<void> {
    if (!(await this.#insertDataKey(db, subjectId))) {
      throw new VaultError('VAULT_DATA_KEY_EXISTS', `subject ${subjectId} already has a data key`, {
        details: { subjectId },
      });
    }
  }

  /** Creates the subject's data key unless it has one. Returns whether it created one. */
  async ensureDataKey(db: Kysely<Database>, subjectId: string): Promise<boolean> {
    return this.#insertDataKey(db, subjectId);
  }

  async hasDataKey(db: Kysely<Database>, subjectId: string): Promise<boolean> {
    const row = await db
      .selectFrom('vault_data_keys')
      .select('subject_id')
      .where('subject_id', '=', subjectId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Seals `plaintext` for `subjectId` and `field` under the subject's data key (see `sealFields` for the option). */
  async seal(
    db: Kysely<Database>,
    subjectId: string,
    field: string,
    plaintext: PlaintextSecret,
    options: { createDataKeyIfMissing?: boolean } = {},
  ): Promise<SealedSecret> {
    const [sealed] = await this.sealFields(db, subjectId, [[field, plaintext]], options);
    return sealed!;
  }

  /**
   * Seals several values of one subject, in order, reading and unwrapping its data key once. With
   * `createDataKeyIfMissing`, a subject without a data key gets one first (a first connect); otherwise
   * VAULT_DATA_KEY_MISSING.
   */
  async sealFields(
    db: Kysely<Database>,
    subjectId: string,
    values: ReadonlyArray<readonly [field: string, plaintext: PlaintextSecret]>,
    options: { createDataKeyIfMissing?: boolean } = {},
  ): Promise<SealedSecret[]> {
    for (const [field] of values) assertField(field);
    let dataKey = await this.#loadDataKey(db, subjectId);
    if (!dataKey && options.createDataKeyIfMissing) {
      await this.#insertDataKey(db, subjectId);
      dataKey = await this.#loadDataKey(db, subjectId);
    }
    if (!dataKey) throw dataKeyMissing(subjectId);
    try {
      return this.sealWith({ ...dataKey, subjectId }, values);
    } finally {
      dataKey.key.fill(0);
    }
  }

  /**
   * Unwraps a data key row the caller read itself (joined with the rows it protects: one statement where a token
   * refresh used to read the key twice, issue 14). The caller keeps it for `openWith` and `sealWith` and zeroes it
   * with `disposeDataKey` when done.
   */
  async unwrapDataKey(db: Kysely<Database>, row: WrappedDataKeyRow): Promise<UnwrappedDataKey> {
    assertSubject(row.subject_id);
    return { subjectId: row.subject_id, dataKeyId: row.data_key_id, key: await this.#unwrapOrThrow(db, row) };
  }

  /** `sealFields` with a data key already unwrapped (`unwrapDataKey`): no statement. */
  sealWith(
    dataKey: UnwrappedDataKey,
    values: ReadonlyArray<readonly [field: string, plaintext: PlaintextSecret]>,
  ): SealedSecret[] {
    return values.map(([field, plaintext]) => {
      assertField(field);
      const aad = valueAad(dataKey.dataKeyId, dataKey.subjectId, field);
      const { iv, ciphertext, tag } = encryptAesGcm(dataKey.key, Buffer.from(plaintext.reveal(), 'utf8'), aad);
      const parts = ['v1', dataKey.dataKeyId, iv, ciphertext, tag].map((part) =>
        typeof part === 'string' ? part : part.toString('base64url'),
      );
      return parts.join('.') as SealedSecret;
    });
  }

  /**
   * Opens a value sealed for `subjectId` and `field`. Throws VAULT_TAMPERED (modified, or moved from another
   * subject or field), VAULT_DATA_KEY_DESTROYED / VAULT_DATA_KEY_MISSING (crypto-shredded), VAULT_KEY_UNKNOWN or
   * VAULT_KEY_RING_MISMATCH (the ring cannot unwrap the data key), VAULT_UNSUPPORTED_VERSION.
   */
  async open(db: Kysely<Database>, subjectId: string, field: string, sealed: SealedSecret): Promise<PlaintextSecret> {
    assertField(field);
    parseSealedOrThrow(sealed, subjectId, field);
    const dataKey = await this.#loadDataKeyOrThrow(db, subjectId);
    try {
      return await this.openWith(db, { ...dataKey, subjectId }, field, sealed);
    } finally {
      dataKey.key.fill(0);
    }
  }

  /**
   * `open` with a data key already unwrapped (`unwrapDataKey`): no statement, unless the value was sealed under
   * another data key (then one, to say whether it is another subject's or a destroyed one). Same errors as `open`.
   */
  async openWith(
    db: Kysely<Database>,
    dataKey: UnwrappedDataKey,
    field: string,
    sealed: SealedSecret,
  ): Promise<PlaintextSecret> {
    const subjectId = dataKey.subjectId;
    assertField(field);
    const parsed = parseSealedOrThrow(sealed, subjectId, field);
    if (dataKey.dataKeyId !== parsed.dataKeyId) {
      const owner = await db
        .selectFrom('vault_data_keys')
        .select('subject_id')
        .where('data_key_id', '=', parsed.dataKeyId)
        .executeTakeFirst();
      if (owner) {
        throw new VaultError(
          'VAULT_TAMPERED',
          `the value given for subject ${subjectId} was sealed for another subject`,
          {
            details: { subjectId, field },
          },
        );
      }
      throw new VaultError(
        'VAULT_DATA_KEY_DESTROYED',
        `the value for subject ${subjectId} was sealed with a data key that has been destroyed`,
        { details: { subjectId, field } },
      );
    }
    let plaintext: Buffer;
    try {
      plaintext = decryptAesGcmOrThrow(dataKey.key, parsed, valueAad(parsed.dataKeyId, subjectId, field));
    } catch (error) {
      throw new VaultError(
        'VAULT_TAMPERED',
        `the sealed ${field} of subject ${subjectId} does not authenticate (modified, or moved from another field)`,
        { cause: error, details: { subjectId, field } },
      );
    }
    return PlaintextSecret.from(plaintext.toString('utf8'));
  }

  /**
   * Crypto-shredding: deletes the subject's data key, so every value sealed for it can never be opened again, in
   * backups too once the key ring key that wrapped it is retired. The caller deletes its ciphertext rows in the same
   * transaction. Returns whether a data key existed.
   */
  async destroyDataKey(db: Kysely<Database>, subjectId: string): Promise<boolean> {
    const result = await db.deleteFrom('vault_data_keys').where('subject_id', '=', subjectId).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  /**
   * Re-wraps every data key not yet under the active key, online: small batches, each its own short transaction,
   * so the service keeps serving (open() works whichever ring key a data key is wrapped under). Safe to run while
   * other processes create, destroy or rotate keys: each update applies only if the row still holds the data key
   * that was read. Sealed values are untouched. Re-running it is cheap and finishes what an interrupted run left.
   */
  async rotateDataKeys(
    db: Kysely<Database>,
    options: { batchSize?: number; onProgress?: (progress: RotationProgress) => void } = {},
  ): Promise<RotationResult> {
    const batchSize = options.batchSize ?? 100;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
    const activeKeyId = this.keyRing.activeKeyId;
    const total = Number(
      (
        await db
          .selectFrom('vault_data_keys')
          .select((eb) => eb.fn.countAll().as('count'))
          .where('wrapping_key_id', '<>', activeKeyId)
          .executeTakeFirstOrThrow()
      ).count,
    );
    let after: string | undefined;
    let scanned = 0;
    let rewrapped = 0;
    const unreadable: string[] = [];
    options.onProgress?.({ scanned, rewrapped, unreadable: 0, total });
    for (;;) {
      const batch = await withTransaction(db, async (trx) => {
        await this.#registerKeyOrThrow(trx, activeKeyId);
        let query = trx
          .selectFrom('vault_data_keys')
          .select(['subject_id', 'data_key_id', 'wrapping_key_id', 'wrapped_key'])
          .where('wrapping_key_id', '<>', activeKeyId)
          .orderBy('subject_id')
          .limit(batchSize);
        if (after !== undefined) query = query.where('subject_id', '>', after);
        const rows = await query.execute();
        let updated = 0;
        const damaged: string[] = [];
        for (const row of rows) {
          let key: Buffer;
          try {
            key = await this.#unwrapOrThrow(trx, row);
          } catch (error) {
            // One damaged row must not block the rotation of all others: report it and go on. Any other error
            // (a key missing from the ring, a wrong key) concerns every row: stop.
            if (error instanceof VaultError && error.code === 'VAULT_TAMPERED') {
              damaged.push(row.subject_id);
              continue;
            }
            throw error;
          }
          try {
            const wrapped = this.#wrap(activeKeyId, row.subject_id, row.data_key_id, key);
            const result = await trx
              .updateTable('vault_data_keys')
              .set({ wrapping_key_id: activeKeyId, wrapped_key: wrapped, rotated_at: this.#clock.now() })
              .where('subject_id', '=', row.subject_id)
              .where('data_key_id', '=', row.data_key_id)
              .where('wrapping_key_id', '=', row.wrapping_key_id)
              .executeTakeFirst();
            if (result.numUpdatedRows > 0n) updated += 1;
          } finally {
            key.fill(0);
          }
        }
        return { count: rows.length, last: rows.at(-1)?.subject_id, updated, damaged };
      });
      if (batch.count === 0 || batch.last === undefined) break;
      after = batch.last;
      scanned += batch.count;
      rewrapped += batch.updated;
      unreadable.push(...batch.damaged);
      options.onProgress?.({ scanned, rewrapped, unreadable: unreadable.length, total });
      // Let requests waiting for the connection (SQLite has one per process) run between batches.
      await yieldToEventLoop();
    }
    return {
      activeKeyId,
      total,
      rewrapped,
      unreadableSubjectIds: unreadable,
      dataKeysByWrappingKey: await countDataKeysByWrappingKey(db),
    };
  }

  async #insertDataKey(db: Kysely<Database>, subjectId: string): Promise<boolean> {
    assertSubject(subjectId);
    const keyId = this.keyRing.activeKeyId;
    const dataKeyId = randomBytes(16).toString('base64url');
    const key = randomBytes(KEY_BYTES);
    try {
      return await withTransaction(db, async (trx) => {
        await this.#registerKeyOrThrow(trx, keyId);
        const result = await trx
          .insertInto('vault_data_keys')
          .values({
            subject_id: subjectId,
            data_key_id: dataKeyId,
            wrapping_key_id: keyId,
            wrapped_key: this.#wrap(keyId, subjectId, dataKeyId, key),
            created_at: this.#clock.now(),
            rotated_at: null,
          })
          .onConflict((conflict) => conflict.column('subject_id').doNothing())
          .executeTakeFirst();
        return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
      });
    } finally {
      key.fill(0);
    }
  }

  /**
   * Records the check value of a ring key before the first data key is wrapped under it, and refuses a key whose
   * check value differs from the recorded one: wrapping under a wrong key would make data unreadable later.
   */
  async #registerKeyOrThrow(trx: Kysely<Database>, keyId: string): Promise<void> {
    await trx
      .insertInto('vault_keys')
      .values({ key_id: keyId, check_value: this.keyRing.checkValue(keyId), created_at: this.#clock.now() })
      .onConflict((conflict) => conflict.column('key_id').doNothing())
      .execute();
    const row = await trx
      .selectFrom('vault_keys')
      .select('check_value')
      .where('key_id', '=', keyId)
      .executeTakeFirstOrThrow();
    if (!this.keyRing.matchesCheckValue(keyId, row.check_value)) throw keyMismatch([keyId]);
  }

  #wrap(keyId: string, subjectId: string, dataKeyId: string, key: Buffer): string {
    const { iv, ciphertext, tag } = this.keyRing.wrap(keyId, key, dataKeyAad(subjectId, dataKeyId));
    return [iv, ciphertext, tag].map((part) => part.toString('base64url')).join('.');
  }

  async #loadDataKeyOrThrow(db: Kysely<Database>, subjectId: string): Promise<{ dataKeyId: string; key: Buffer }> {
    const dataKey = await this.#loadDataKey(db, subjectId);
    if (!dataKey) throw dataKeyMissing(subjectId);
    return dataKey;
  }

  /** The subject's data key, unwrapped, or undefined when it has none. */
  async #loadDataKey(db: Kysely<Database>, subjectId: string): Promise<{ dataKeyId: string; key: Buffer } | undefined> {
    assertSubject(subjectId);
    const row = await db
      .selectFrom('vault_data_keys')
      .select(['subject_id', 'data_key_id', 'wrapping_key_id', 'wrapped_key'])
      .where('subject_id', '=', subjectId)
      .executeTakeFirst();
    if (!row) return undefined;
    return { dataKeyId: row.data_key_id, key: await this.#unwrapOrThrow(db, row) };
  }

  async #unwrapOrThrow(
    db: Kysely<Database>,
    row: { subject_id: string; data_key_id: string; wrapping_key_id: string; wrapped_key: string },
  ): Promise<Buffer> {
    if (!this.keyRing.has(row.wrapping_key_id)) {
      throw new VaultError(
        'VAULT_KEY_UNKNOWN',
        `the data key of subject ${row.subject_id} is wrapped under key "${row.wrapping_key_id}", which is not in ` +
          'MAILBRIDGE_KEYS: put that key back (after the active one) until `mailbridge keys rotate` has run',
        { details: { subjectId: row.subject_id, keyId: row.wrapping_key_id } },
      );
    }
    try {
      const parts = row.wrapped_key.split('.');
      if (parts.length !== 3) throw new Error('wrapped key is not <iv>.<ciphertext>.<tag>');
      const [iv, ciphertext, tag] = parts.map(decodeBase64UrlOrThrow) as [Buffer, Buffer, Buffer];
      const key = this.keyRing.unwrapOrThrow(
        row.wrapping_key_id,
        { iv, ciphertext, tag },
        dataKeyAad(row.subject_id, row.data_key_id),
      );
      if (key.length !== KEY_BYTES) throw new Error(`unwrapped data key is ${key.length} bytes`);
      return key;
    } catch (error) {
      // A wrong key under a known id also fails here: say so when the recorded check value proves it.
      const stored = await db
        .selectFrom('vault_keys')
        .select('check_value')
        .where('key_id', '=', row.wrapping_key_id)
        .executeTakeFirst();
      if (stored && !this.keyRing.matchesCheckValue(row.wrapping_key_id, stored.check_value)) {
        throw keyMismatch([row.wrapping_key_id], error);
      }
      throw new VaultError(
        'VAULT_TAMPERED',
        `the wrapped data key of subject ${row.subject_id} does not authenticate`,
        {
          cause: error,
          details: { subjectId: row.subject_id, keyId: row.wrapping_key_id },
        },
      );
    }
  }
}

/** A row of `vault_data_keys` as a caller's own query reads it (see `unwrapDataKey`). */
export interface WrappedDataKeyRow {
  subject_id: string;
  data_key_id: string;
  wrapping_key_id: string;
  wrapped_key: string;
}

/** A subject's data key in the clear, for several opens and seals in one piece of work; zero it with `disposeDataKey`. */
export interface UnwrappedDataKey {
  readonly subjectId: string;
  readonly dataKeyId: string;
  readonly key: Buffer;
}

/** Overwrites the key's bytes: a data key in the clear lives no longer than the work that needed it. */
export function disposeDataKey(dataKey: UnwrappedDataKey | undefined): void {
  dataKey?.key.fill(0);
}

export interface RotationProgress {
  /** Data keys looked at so far (those already under the active key are not counted). */
  scanned: number;
  /** Of those, re-wrapped by this run (the others were destroyed or re-wrapped by someone else meanwhile). */
  rewrapped: number;
  /** Of those, data keys that do not authenticate (damaged rows): left as they are and reported. */
  unreadable: number;
  /** Data keys not under the active key when the run started. */
  total: number;
}

export interface RotationResult {
  activeKeyId: string;
  total: number;
  rewrapped: number;
  /** Subjects whose wrapped data key does not authenticate (damaged): not re-wrapped, their data is unreadable. */
  unreadableSubjectIds: string[];
  /** After the run: how many data keys each ring key wraps. Only the active key should remain. */
  dataKeysByWrappingKey: Record<string, number>;
}

export interface KeyRingCheck {
  /** Ring key ids recorded in vault_keys by this check (first use of the key). */
  registered: string[];
  dataKeysByWrappingKey: Record<string, number>;
}

/**
 * The ring's keys against what `vault_keys` recorded: `mismatched`, the ids whose recorded check value is another
 * key's (a different key under the same id), in the ring's order; `recorded`, the ids that have a record.
 */
export async function compareRingWithRecords(
  db: Kysely<Database>,
  ring: KeyRing,
): Promise<{ mismatched: string[]; recorded: Set<string> }> {
  const stored = await db
    .selectFrom('vault_keys')
    .select(['key_id', 'check_value'])
    .where('key_id', 'in', [...ring.keyIds])
    .execute();
  const wrong = new Set(
    stored.filter((row) => !ring.matchesCheckValue(row.key_id, row.check_value)).map((row) => row.key_id),
  );
  return {
    mismatched: ring.keyIds.filter((id) => wrong.has(id)),
    recorded: new Set(stored.map((row) => row.key_id)),
  };
}

/**
 * The start-up check: refuses (VAULT_KEY_RING_MISMATCH, one message listing every problem) a key ring that cannot
 * open the stored data: a ring key whose check value differs from the one recorded for its id (a different key
 * under the same id), or data keys wrapped under an id the ring no longer holds. Then records the check values of
 * new ring keys. Run it before serving, so the service never starts and then silently fails to decrypt.
 */
export async function assertKeyRingOpensData(
  db: Kysely<Database>,
  ring: KeyRing,
  clock: Clock = systemClock,
): Promise<KeyRingCheck> {
  const problems: string[] = [];
  const { mismatched, recorded } = await compareRingWithRecords(db, ring);
  for (const id of mismatched) {
    problems.push(
      `key "${id}" in MAILBRIDGE_KEYS is not the key that id stood for when data was written: restore the original ` +
        `key for "${id}"; to add a new key, give it a new id and put it first`,
    );
  }
  const byWrappingKey = await countDataKeysByWrappingKey(db);
  for (const [id, count] of Object.entries(byWrappingKey)) {
    if (!ring.has(id)) {
      problems.push(
        `${count} data key(s) are wrapped under key "${id}", which is not in MAILBRIDGE_KEYS: add "${id}:<its key>" ` +
          'back after the active key, start, run `mailbridge keys rotate`, and only then remove it',
      );
    }
  }
  if (problems.length > 0) throw keyMismatch(mismatched, undefined, problems);

  const registered: string[] = [];
  for (const id of ring.keyIds) {
    if (recorded.has(id)) continue;
    const result = await db
      .insertInto('vault_keys')
      .values({ key_id: id, check_value: ring.checkValue(id), created_at: clock.now() })
      .onConflict((conflict) => conflict.column('key_id').doNothing())
      .executeTakeFirst();
    if ((result.numInsertedOrUpdatedRows ?? 0n) > 0n) {
      registered.push(id);
      continue;
    }
    // Another process recorded this id between our read and our insert: its key must be ours.
    const row = await db
      .selectFrom('vault_keys')
      .select('check_value')
      .where('key_id', '=', id)
      .executeTakeFirstOrThrow();
    if (!ring.matchesCheckValue(id, row.check_value)) throw keyMismatch([id]);
  }
  return { registered, dataKeysByWrappingKey: byWrappingKey };
}

export async function countDataKeysByWrappingKey(db: Kysely<Database>): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('vault_data_keys')
    .select((eb) => ['wrapping_key_id', eb.fn.countAll().as('count')])
    .groupBy('wrapping_key_id')
    .orderBy('wrapping_key_id')
    .execute();
  return Object.fromEntries(rows.map((row) => [row.wrapping_key_id, Number(row.count)]));
}

function keyMismatch(keyIds: string[], cause?: unknown, problems?: string[]): VaultError {
  const lines = problems ?? [
    `key ${keyIds.map((id) => `"${id}"`).join(', ')} in MAILBRIDGE_KEYS is not the key that id stood for when ` +
      'data was written: restore the original key; to add a new key, give it a new id and put it first',
  ];
  return new VaultError(
    'VAULT_KEY_RING_MISMATCH',
    `the key ring cannot open the stored data:\n${lines.map((line) => `  - ${line}`).join('\n')}`,
    { cause, details: { keyIds, problems: lines } },
  );
}

const DATA_KEY_ID = /^[A-Za-z0-9_-]{22}$/;
const FIELD = /^[A-Za-z0-9_.:-]{1,64}$/;

function parseSealedOrThrow(
  sealed: string,
  subjectId: string,
  field: string,
): { dataKeyId: string; iv: Buffer; ciphertext: Buffer; tag: Buffer } {
  const tampered = (reason: string, cause?: unknown): VaultError =>
    new VaultError('VAULT_TAMPERED', `the sealed ${field} of subject ${subjectId} is malformed: ${reason}`, {
      cause,
      details: { subjectId, field },
    });
  if (typeof sealed !== 'string') throw tampered('not a string');
  const parts = sealed.split('.');
  const version = parts[0] ?? '';
  if (version !== 'v1') {
    if (/^v\d+$/.test(version)) {
      throw new VaultError(
        'VAULT_UNSUPPORTED_VERSION',
        `sealed value format ${version} is not supported by this build`,
        {
          details: { subjectId, field, version },
        },
      );
    }
    throw tampered('not a v1 sealed value');
  }
  if (parts.length !== 5) throw tampered(`expected 5 parts, found ${parts.length}`);
  const [, dataKeyId, iv, ciphertext, tag] = parts as [string, string, string, string, string];
  if (!DATA_KEY_ID.test(dataKeyId)) throw tampered('bad data key id');
  try {
    const decoded = {
      dataKeyId,
      iv: decodeBase64UrlOrThrow(iv),
      ciphertext: decodeBase64UrlOrThrow(ciphertext),
      tag: decodeBase64UrlOrThrow(tag),
    };
    if (decoded.iv.length !== IV_BYTES || decoded.tag.length !== TAG_BYTES) throw new Error('bad IV or tag length');
    return decoded;
  } catch (error) {
    throw tampered('bad encoding', error);
  }
}

function valueAad(dataKeyId: string, subjectId: string, field: string): Buffer {
  return Buffer.from(JSON.stringify(['mailbridge/vault/value/v1', dataKeyId, subjectId, field]), 'utf8');
}

function dataKeyAad(subjectId: string, dataKeyId: string): Buffer {
  return Buffer.from(JSON.stringify(['mailbridge/vault/data-key/v1', subjectId, dataKeyId]), 'utf8');
}

function assertSubject(subjectId: string): void {
  if (typeof subjectId !== 'string' || subjectId.length === 0 || subjectId.length > 255) {
    throw new VaultError('VAULT_INVALID_INPUT', 'a subject id must be a non-empty string of at most 255 characters');
  }
}

function assertField(field: string): void {
  if (typeof field !== 'string' || !FIELD.test(field)) {
    throw new VaultError('VAULT_INVALID_INPUT', `field name "${String(field)}" must be 1-64 of A-Z a-z 0-9 _ . : -`);
  }
}

function dataKeyMissing(subjectId: string): VaultError {
  return new VaultError(
    'VAULT_DATA_KEY_MISSING',
    `subject ${subjectId} has no data key (never created, or destroyed with its data)`,
    { details: { subjectId } },
  );
}
