import type { Config } from '../config/config.js';
import { openDatabase } from '../db/open-database.js';
import { createLogger, type Logger } from '../platform/logger.js';
import { resolveKeyRing } from '../vault/resolve-key-ring.js';
import {
  assertKeyRingOpensData,
  type RotationProgress,
  type RotationResult,
  TokenVault,
} from '../vault/token-vault.js';

export interface KeysRotateOptions {
  /** Where the progress bar and the summary go (default process.stderr). */
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  batchSize?: number;
  logger?: Logger;
}

/**
 * `mailbridge keys rotate`: re-wraps every data key under the active key (the first of MAILBRIDGE_KEYS), online,
 * while the service keeps serving. Procedure for the operator:
 *   1. put the new key first in MAILBRIDGE_KEYS and keep the old one after it; restart every process with it;
 *   2. run `mailbridge keys rotate`;
 *   3. when the summary shows every data key under the new key, remove the old key and restart.
 * The database must be migrated (`mailbridge migrate`, or any start).
 */
export async function runKeysRotate(config: Config, options: KeysRotateOptions = {}): Promise<RotationResult> {
  const stderr = options.stderr ?? process.stderr;
  const logger = options.logger ?? createLogger(config);
  const { keyRing } = resolveKeyRing(config, logger);
  const handle = await openDatabase(config.database, {
    onPoolError: (error) => logger.error({ err: error }, 'database pool error'),
  });
  try {
    await assertKeyRingOpensData(handle.db, keyRing);
    const vault = new TokenVault({ keyRing });
    const bar = progressBar(stderr);
    const started = Date.now();
    const result = await vault.rotateDataKeys(handle.db, {
      batchSize: options.batchSize ?? 200,
      onProgress: bar.update,
    });
    bar.end();
    stderr.write(summary(result, keyRing.keyIds, Date.now() - started));
    return result;
  } finally {
    await handle.close();
  }
}

function summary(result: RotationResult, ringIds: readonly string[], elapsedMs: number): string {
  const counts = Object.entries(result.dataKeysByWrappingKey);
  const others = counts.filter(([id]) => id !== result.activeKeyId);
  const lines = [
    `Re-wrapped ${result.rewrapped} data key(s) under "${result.activeKeyId}" in ${(elapsedMs / 1000).toFixed(1)} s.`,
    `Data keys by wrapping key: ${counts.length === 0 ? 'none yet' : counts.map(([id, n]) => `${id}: ${n}`).join(', ')}.`,
  ];
  const retired = ringIds.filter((id) => id !== result.activeKeyId);
  if (result.unreadableSubjectIds.length > 0) {
    lines.push(
      `${result.unreadableSubjectIds.length} data key(s) do not authenticate (damaged rows) and were left as they ` +
        `are; their data cannot be opened with any key. Subjects: ${result.unreadableSubjectIds.join(', ')}. ` +
        'Delete (disconnect) them, then run this command again.',
    );
  } else if (others.length > 0) {
    lines.push(
      `${others.reduce((sum, [, n]) => sum + n, 0)} data key(s) are still under other keys (created by a process ` +
        `that still runs with another active key?): restart every process with "${result.activeKeyId}" first and ` +
        'run this command again before removing a key.',
    );
  } else if (retired.length > 0) {
    lines.push(
      `Every data key is under "${result.activeKeyId}". Once every process runs with it first, you can remove ` +
        `${retired.map((id) => `"${id}"`).join(', ')} from MAILBRIDGE_KEYS.`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** A one-line progress bar, redrawn in place on a terminal; on a pipe, a line every 10%. */
function progressBar(stream: NodeJS.WritableStream & { isTTY?: boolean }): {
  update: (progress: RotationProgress) => void;
  end: () => void;
} {
  const width = 30;
  let lastDecile = -1;
  let drawn = false;
  return {
    update: ({ scanned, total }) => {
      const ratio = total === 0 ? 1 : Math.min(1, scanned / total);
      const filled = Math.round(ratio * width);
      const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor(ratio * 100)}% ${Math.min(scanned, total)}/${total} data keys`;
      if (stream.isTTY) {
        stream.write(`\r${line}`);
        drawn = true;
      } else {
        const decile = Math.floor(ratio * 10);
        if (decile !== lastDecile) {
          lastDecile = decile;
          stream.write(`${line}\n`);
        }
      }
    },
    end: () => {
      if (drawn) stream.write('\n');
    },
  };
}
