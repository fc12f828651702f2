/**
 * Tables of the token vault (src/vault/). Created by migration 0001-vault.
 * Timestamps are epoch milliseconds (bigint in PostgreSQL, read back as numbers: see open-database.ts).
 */
export interface VaultTables {
  /** One data key per subject (an account, a connect session), wrapped under a key-ring key. */
  vault_data_keys: VaultDataKeysTable;
  /** Per key-ring key id, a check value that recognises the key without revealing it. */
  vault_keys: VaultKeysTable;
}

export interface VaultDataKeysTable {
  subject_id: string;
  /** Random id of this data key; sealed values name it, so a value from a destroyed key is recognised as such. */
  data_key_id: string;
  /** The key-ring key id (MAILBRIDGE_KEYS) the data key is wrapped under. */
  wrapping_key_id: string;
  /** `<iv>.<ciphertext>.<tag>` in base64url: AES-256-GCM of the 32-byte data key. */
  wrapped_key: string;
  created_at: number;
  /** When the data key was last re-wrapped under another key-ring key; null until then. */
  rotated_at: number | null;
}

export interface VaultKeysTable {
  key_id: string;
  /** HMAC-SHA256 under the key of a constant label, base64url. Never the key. */
  check_value: string;
  created_at: number;
}
