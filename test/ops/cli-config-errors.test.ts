import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.js';

/**
 * Issue 10 item 5: a configuration problem makes every CLI command print the one clear message `start` prints, on
 * stderr, and exit 1: no stack trace, no `AppError {…}` dump.
 */

function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', ...args],
      { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env } },
      (error, stdout, stderr) => resolve({ code: error ? (error.code as number | null) : 0, stdout, stderr }),
    );
  });
}

describe('CLI: configuration errors are one clear message in every command', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mailbridge-cli-config-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const badEnv = { MAILBRIDGE_DATA_DIR: dataDir, PORT: 'eighty', MAILBRIDGE_KEYS: 'k1:tooshort' };
  const expected = (() => {
    try {
      loadConfig(badEnv);
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error('the bad environment was accepted');
  })();

  for (const args of [
    ['start'],
    ['api'],
    ['worker'],
    ['migrate'],
    ['keys', 'rotate'],
    ['api-keys', 'create', '--org', 'Acme'],
  ]) {
    it(`mailbridge ${args.join(' ')}`, async () => {
      const result = await runCli(args, badEnv);
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stderr.trim(), expected);
      assert.match(result.stderr, /PORT: "eighty" is not a port/);
      assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
      assert.equal(result.stdout, '');
    });
  }

  it('mailbridge emulator: a bad EMULATOR_PORT or snapshot file', async () => {
    const port = await runCli(['emulator'], { EMULATOR_PORT: 'eighty' });
    assert.equal(port.code, 1, port.stderr);
    assert.equal(
      port.stderr.trim(),
      'mailbridge emulator cannot start: the configuration has 1 problem:\n' +
        '  - EMULATOR_PORT: "eighty" is not a port; set EMULATOR_PORT to an integer from 0 to 65535 (default 4010)',
    );
    const snapshot = join(dataDir, 'broken.json');
    writeFileSync(snapshot, '{"format":"something else"}');
    const broken = await runCli(['emulator'], { EMULATOR_PORT: '0', EMULATOR_SNAPSHOT: snapshot });
    assert.equal(broken.code, 1, broken.stderr);
    assert.match(
      broken.stderr,
      /^mailbridge emulator cannot start: the configuration has 1 problem:\n {2}- EMULATOR_SNAPSHOT: /,
    );
    assert.doesNotMatch(broken.stderr, /^\s+at /m, 'no stack trace');
  });
});
