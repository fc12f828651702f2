import { Secret } from '../platform/secret.js';

/**
 * A secret in plaintext (a refresh token, an access token) while it is in memory. It redacts itself wherever it
 * could be printed (toString, toJSON, util.inspect: see Secret). The one way in is `PlaintextSecret.from()`, the
 * one way out `reveal()`; `TokenVault.open()` also returns one.
 */
export class PlaintextSecret extends Secret {
  // Makes the type nominal: a config `Secret` is not a `PlaintextSecret`.
  readonly #plaintext = true;

  private constructor(value: string) {
    super(value);
  }

  static from(value: string): PlaintextSecret {
    return new PlaintextSecret(value);
  }

  static isPlaintextSecret(value: unknown): value is PlaintextSecret {
    return value instanceof PlaintextSecret && value.#plaintext;
  }
}

declare const sealedBrand: unique symbol;

/**
 * A sealed value, `v1.<dataKeyId>.<iv>.<ciphertext>.<tag>` (see token-vault.ts). Safe to store and log; it opens
 * only for the subject and field it was sealed for. The one way in is `TokenVault.seal()`; a column that stores one
 * declares its type as `SealedSecret` in `src/db/tables/`.
 */
export type SealedSecret = string & { readonly [sealedBrand]: true };
