import { randomBytes, randomFillSync } from 'node:crypto';
import { hostname } from 'node:os';
import { type Clock, systemClock } from './clock.js';

// Crockford base32: no I, L, O, U, so ids survive being read aloud or retyped. @see docs/standards.md §1
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const PREFIX = /^[a-z][a-z0-9]{0,11}$/;

/**
 * A new id `<prefix>_<26 chars>`: 10 characters of creation time (ms, like ULID) then 16 of randomness (80 bits),
 * lower-cased. Ids sort by creation time, which keeps B-tree inserts local and lists stable, and the prefix says
 * what an id names (`acc_…`, `cs_…`) wherever it shows up.
 */
export function newId(prefix: string, clock: Clock = systemClock): string {
  if (!PREFIX.test(prefix)) throw new Error(`id prefix must match ${PREFIX}, got "${prefix}"`);
  return `${prefix}_${encodeTime(clock.now())}${encodeRandom(16)}`.toLowerCase();
}

/** A random opaque string of `bytes` bytes of entropy, base64url (for secrets such as API keys or state nonces). */
export function randomToken(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < 16) throw new Error('a random token needs at least 16 bytes of entropy');
  return randomBytes(bytes).toString('base64url');
}

function encodeTime(epochMs: number): string {
  if (!Number.isSafeInteger(epochMs) || epochMs < 0) throw new Error(`cannot encode time ${epochMs}`);
  let rest = epochMs;
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[rest % 32] + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

/**
 * Random bytes for ids, drawn from the CSPRNG 4 KiB at a time (256 ids) rather than one call per id: a call per id
 * was 2 % of `mailbridge start`'s CPU in the send-pipeline bench. Node's own `randomUUID` buffers the same way. Ids
 * are not secrets; secrets come from `randomToken`, unbuffered.
 */
const ID_ENTROPY = Buffer.alloc(4096);
let idEntropyOffset = ID_ENTROPY.length;

function encodeRandom(length: number): string {
  if (idEntropyOffset + length > ID_ENTROPY.length) {
    randomFillSync(ID_ENTROPY);
    idEntropyOffset = 0;
  }
  let out = '';
  // 256 is a multiple of 32, so `byte % 32` is unbiased.
  for (let i = idEntropyOffset; i < idEntropyOffset + length; i++) out += ALPHABET[ID_ENTROPY[i]! % 32];
  idEntropyOffset += length;
  return out;
}

/**
 * Lease holders (outbox claims, refresh leases) are named `<host>:<pid>:<random>`: which host and process holds a
 * row, readable in the database. Every id this process makes starts with this prefix, so shutdown can find its own.
 */
export function processLeaseOwnerPrefix(pid: number = process.pid): string {
  return `${hostname().slice(0, 40)}:${pid}:`;
}

/** A new lease holder id of this process. */
export function newLeaseOwnerId(): string {
  return `${processLeaseOwnerPrefix()}${randomToken(16).slice(0, 8)}`;
}
