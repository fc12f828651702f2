import { createHash } from 'node:crypto';

/**
 * Seeded randomness for the warm-up engine, so that a run under the same seed is reproducible (docs/warmup.md §R).
 *
 * Two kinds, because they answer different needs:
 * - `RandomSource` is a sequence (sfc32): cheap, but its results depend on the order of calls. It is injected
 *   wherever a function draws several numbers.
 * - `keyedUnit(seed, ...key)` is a hash of the seed and a stable key: the same answer whatever else ran before.
 *   Decisions that must not depend on the order in which mailboxes are processed (the daily factor of a mailbox on
 *   a local date, a mailbox's bias, its persona) use it, or a sequence seeded from such a key (`keyedSource`).
 */
export interface RandomSource {
  /** A float in [0, 1). */
  next(): number;
}

const TWO_POW_32 = 4294967296;

function digest(seed: string, key: readonly (string | number)[]): Buffer {
  const hash = createHash('sha256').update(seed);
  // A separator that cannot appear in the parts' decimal or text form keeps ("ab","c") apart from ("a","bc").
  for (const part of key) hash.update('\0').update(String(part));
  return hash.digest();
}

/** sfc32 (Chris Doty-Humphrey's Small Fast Counting generator), seeded from SHA-256 of the seed and key. */
class Sfc32 implements RandomSource {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(words: Buffer) {
    this.#a = words.readUInt32LE(0);
    this.#b = words.readUInt32LE(4);
    this.#c = words.readUInt32LE(8);
    this.#d = words.readUInt32LE(12);
    // The published recommendation: discard the first outputs so that similar seeds diverge.
    for (let i = 0; i < 12; i++) this.next();
  }

  next(): number {
    let t = (this.#a + this.#b) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#d = (this.#d + 1) | 0;
    t = (t + this.#d) | 0;
    this.#c = (this.#c + t) | 0;
    return (t >>> 0) / TWO_POW_32;
  }
}

/** A sequence seeded from `seed`; the same seed gives the same sequence. */
export function seededSource(seed: string): RandomSource {
  return new Sfc32(digest(seed, []));
}

/** A sequence of its own for `key` under `seed`: independent of every other key and of the order of use. */
export function keyedSource(seed: string, ...key: (string | number)[]): RandomSource {
  return new Sfc32(digest(seed, key));
}

/** A float in [0, 1) that depends only on `seed` and `key`. */
export function keyedUnit(seed: string, ...key: (string | number)[]): number {
  return digest(seed, key).readUInt32LE(0) / TWO_POW_32;
}

/** A float uniform in [min, max). */
export function uniform(random: RandomSource, min: number, max: number): number {
  return min + random.next() * (max - min);
}

/** An integer uniform in [min, max], both inclusive. */
export function integerBetween(random: RandomSource, min: number, max: number): number {
  return min + Math.floor(random.next() * (max - min + 1));
}

/** True with probability `p` (clamped to [0, 1]). */
export function chance(random: RandomSource, p: number): boolean {
  return random.next() < p;
}

/** One element of a non-empty list, uniformly. */
export function pickOne<T>(random: RandomSource, items: readonly T[]): T {
  if (items.length === 0) throw new RangeError('cannot pick from an empty list');
  return items[Math.floor(random.next() * items.length)]!;
}

/** The index of one of `weights` (all ≥ 0, at least one > 0), with probability proportional to its weight. */
export function weightedIndex(random: RandomSource, weights: readonly number[]): number {
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  if (!(total > 0) || weights.some((weight) => !(weight >= 0))) {
    throw new RangeError('weights must be non-negative with a positive sum');
  }
  let rest = random.next() * total;
  for (let i = 0; i < weights.length; i++) {
    rest -= weights[i]!;
    if (rest < 0) return i;
  }
  // Floating-point rounding can leave a tiny remainder: the last positive weight takes it.
  return weights.findLastIndex((weight) => weight > 0);
}
