import { createHash, randomBytes } from 'node:crypto';

/**
 * Seedable randomness for the emulator. Under a seed, everything the emulator invents (ids, tokens, token
 * lifetimes, junk-filter verdicts) is reproducible; without one the seed itself is random.
 *
 * `next()` is a sequence (sfc32), so its results depend on the order of calls. Decisions that must not depend
 * on request interleaving (the junk filter) use `chance(key, p)`, a hash of the seed and a stable key instead.
 */
export class EmulatorRandom {
  readonly seed: string;
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed?: string) {
    this.seed = seed ?? randomBytes(8).toString('hex');
    const h = createHash('sha256').update(this.seed).digest();
    this.#a = h.readUInt32LE(0);
    this.#b = h.readUInt32LE(4);
    this.#c = h.readUInt32LE(8);
    this.#d = h.readUInt32LE(12);
  }

  /** The position in the sequence, so that a snapshot can continue it exactly (see `restoreState`). */
  saveState(): [number, number, number, number] {
    return [this.#a >>> 0, this.#b >>> 0, this.#c >>> 0, this.#d >>> 0];
  }

  /** Continues the sequence from a `saveState()` result (the seed must be the one it was taken under). */
  restoreState(state: readonly [number, number, number, number]): void {
    [this.#a, this.#b, this.#c, this.#d] = state;
  }

  /** A float in [0, 1) from the sequence (sfc32). */
  next(): number {
    this.#a >>>= 0;
    this.#b >>>= 0;
    this.#c >>>= 0;
    this.#d >>>= 0;
    let t = (this.#a + this.#b) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#d = (this.#d + 1) | 0;
    t = (t + this.#d) | 0;
    this.#c = (this.#c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** An integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i += 4) {
      const word = Math.floor(this.next() * 4294967296) >>> 0;
      for (let j = 0; j < 4 && i + j < length; j++) out[i + j] = (word >>> (8 * j)) & 0xff;
    }
    return out;
  }

  /** A lowercase RFC 4122 version-4 GUID, as Microsoft writes tenant, object and request ids. */
  guid(): string {
    const b = this.bytes(16);
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const hex = b.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** An opaque base64url string of `length` random bytes (tokens, codes). */
  token(length = 32): string {
    return this.bytes(length).toString('base64url');
  }

  /** A deterministic verdict for `key`: true with probability `p`, independent of call order. */
  chance(key: string, p: number): boolean {
    return this.unit(key) < p;
  }

  /** A deterministic float in [0, 1) for `key`. */
  unit(key: string): number {
    const h = createHash('sha256').update(this.seed).update('\0').update(key).digest();
    return h.readUInt32LE(0) / 4294967296;
  }
}
