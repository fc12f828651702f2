import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors/app-error.js';

/**
 * Dashboard password hashes: scrypt (RFC 7914), a memory-hard KDF, with a 16-byte random salt per user, stored as
 * `scrypt$N$r$p$salt$hash` (base64url) so parameters can be raised later without invalidating existing hashes.
 *
 * Parameters: N=2^15, r=8, p=3. The OWASP Password Storage Cheat Sheet gives scrypt N=2^17/r=8/p=1 as the minimum
 * and lists N=2^15/r=8/p=3 as an equivalent cost; we take the 32 MiB variant (128·N·r bytes) because every
 * concurrent sign-in holds that memory in one of libuv's 4 pool threads: 128 MiB at peak instead of 512 MiB on a
 * small self-hosted box flooded with sign-ins (the sign-in rate limits bound the rest). Brute force still costs
 * 32 MiB and ~0.1–0.2 s of CPU per guess. @see docs/standards.md §8
 */
export const PASSWORD_HASH_PARAMS = { N: 2 ** 15, r: 8, p: 3 } as const;

const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
/** Upper bounds accepted when reading a stored hash, so a corrupted row cannot make a sign-in allocate gigabytes. */
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;

interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

function scrypt(password: string, salt: Buffer, keyLength: number, params: ScryptParams): Promise<Buffer> {
  // Node refuses 128·N·r ≥ maxmem (default 32 MiB), so give it room above the parameters' own need.
  const maxmem = 128 * params.N * params.r + 16 * 1024 * 1024;
  return new Promise((resolve, reject) =>
    scryptCallback(password.normalize('NFKC'), salt, keyLength, { ...params, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string, params: ScryptParams = PASSWORD_HASH_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const key = await scrypt(password, salt, KEY_LENGTH, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

function parseHashOrThrow(stored: string): { params: ScryptParams; salt: Buffer; key: Buffer } {
  const parts = stored.split('$');
  const [scheme, n, r, p, salt, key] = parts;
  const params = { N: Number(n), r: Number(r), p: Number(p) };
  const valid =
    parts.length === 6 &&
    scheme === 'scrypt' &&
    Number.isInteger(params.N) &&
    params.N > 1 &&
    params.N <= MAX_N &&
    (params.N & (params.N - 1)) === 0 &&
    Number.isInteger(params.r) &&
    params.r >= 1 &&
    params.r <= MAX_R &&
    Number.isInteger(params.p) &&
    params.p >= 1 &&
    params.p <= MAX_P &&
    salt !== undefined &&
    key !== undefined &&
    key.length > 0;
  if (!valid) {
    throw new AppError('DASHBOARD_PASSWORD_HASH_INVALID', 'a stored dashboard password hash is malformed');
  }
  return { params, salt: Buffer.from(salt, 'base64url'), key: Buffer.from(key, 'base64url') };
}

/** Whether `password` matches `stored`; the comparison is constant-time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const { params, salt, key } = parseHashOrThrow(stored);
  const candidate = await scrypt(password, salt, key.length, params);
  return timingSafeEqual(candidate, key);
}

/** Whether a stored hash uses weaker parameters than today's (rehash at the next successful sign-in). */
export function needsRehash(stored: string): boolean {
  const { params } = parseHashOrThrow(stored);
  return params.N < PASSWORD_HASH_PARAMS.N || params.r < PASSWORD_HASH_PARAMS.r || params.p < PASSWORD_HASH_PARAMS.p;
}

/**
 * A hash of a random password, computed once: verifying against it when the email is unknown makes a failed
 * sign-in take as long for an unknown email as for a known one (no user enumeration by timing).
 */
let decoy: Promise<string> | undefined;
export function decoyPasswordHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(16).toString('base64url'));
  return decoy;
}
