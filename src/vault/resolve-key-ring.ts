import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/config.js';
import type { Logger } from '../platform/logger.js';
import { generateKeyRingText, type KeyRing, parseKeyRingOrThrow } from './key-ring.js';
import { MAKE_KEY_HINT, VaultError } from './vault-error.js';

export const DEV_KEY_FILE = 'master.key';
const DEV_KEY_ID = 'local';

export interface ResolvedKeyRing {
  keyRing: KeyRing;
  /** `env`: MAILBRIDGE_KEYS; `dev-file`: an existing dev key file; `dev-file-created`: generated just now. */
  source: 'env' | 'dev-file' | 'dev-file-created';
  /** The dev key file, for the two dev sources. */
  path?: string;
}

/**
 * The key ring to run with. MAILBRIDGE_KEYS when set. Otherwise, only in emulator mode (no Microsoft app, so no
 * real user's token can be stored), a local key in `${MAILBRIDGE_DATA_DIR}/master.key` (mode 0600), generated on
 * first start, with a loud warning: that key sits next to the data it protects. With a Microsoft app configured and
 * no key, refuses (VAULT_KEY_RING_MISSING): there is no "encryption disabled" mode (docs/engineering.md §4).
 */
export function resolveKeyRing(
  config: Pick<Config, 'keyRing' | 'microsoft' | 'dataDir'>,
  logger: Pick<Logger, 'warn'>,
): ResolvedKeyRing {
  if (config.keyRing) return { keyRing: config.keyRing, source: 'env' };
  if (config.microsoft.mode !== 'emulator') {
    throw new VaultError(
      'VAULT_KEY_RING_MISSING',
      `MAILBRIDGE_KEYS is not set, and a Microsoft app is configured: tokens of real users need a key. ${MAKE_KEY_HINT}`,
    );
  }
  const path = resolve(join(config.dataDir, DEV_KEY_FILE));
  let text: string | undefined;
  let created = false;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text === undefined) {
    mkdirSync(config.dataDir, { recursive: true });
    const generated = `${generateKeyRingText(DEV_KEY_ID)}\n`;
    try {
      // `wx`: two processes starting at once must not each write their own key; the loser reads the winner's.
      writeFileSync(path, generated, { mode: 0o600, flag: 'wx' });
      // The umask may have taken bits away from the mode, never added: make the mode exact anyway.
      chmodSync(path, 0o600);
      text = generated;
      created = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      text = readFileSync(path, 'utf8');
    }
  }
  const keyRing = parseKeyRingOrThrow(text.trim(), path);
  const mode = statSync(path).mode & 0o777;
  logger.warn(
    { keyFile: path, keyId: keyRing.activeKeyId },
    `${created ? 'GENERATED a local encryption key' : 'Using the local encryption key'} at ${path}. This key is for ` +
      'local use only (the built-in Microsoft emulator): it is stored next to the data it protects. Before ' +
      'connecting real mailboxes, set MAILBRIDGE_KEYS (make a key with `openssl rand -base64 32`).' +
      (mode & 0o077 ? ` The file is readable by others (mode ${mode.toString(8)}): chmod 600 it.` : ''),
  );
  return { keyRing, source: created ? 'dev-file-created' : 'dev-file', path };
}
