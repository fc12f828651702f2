import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FileClock, writeClockFile } from '../../src/platform/clock-file.js';

describe('the clock file (a simulation’s clock, src/platform/clock-file.ts)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailbridge-clock-file-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('returns at every now() the time last written, across writers and readers', () => {
    const path = join(dir, 'clock');
    writeClockFile(path, 1_767_225_600_000);
    const clock = new FileClock(path);
    const second = new FileClock(path);
    try {
      assert.equal(clock.now(), 1_767_225_600_000);
      writeClockFile(path, 1_767_225_600_000 + 7 * 60_000);
      assert.equal(clock.now(), 1_767_226_020_000);
      assert.equal(second.now(), 1_767_226_020_000);
      // Backwards too: the file is the clock, whatever it says.
      writeClockFile(path, 5);
      assert.equal(clock.now(), 5);
    } finally {
      clock.close();
      second.close();
    }
  });

  it('refuses a file that does not hold a time, and a time that is not one', () => {
    const missing = join(dir, 'missing');
    assert.throws(() => new FileClock(missing), /ENOENT/);
    const garbled = join(dir, 'garbled');
    writeFileSync(garbled, '0001767225600000|0001767225600001\n');
    assert.throws(() => new FileClock(garbled), /does not hold a time/);
    assert.throws(() => writeClockFile(join(dir, 'bad'), Number.NaN), /is not a time/);
    assert.throws(() => writeClockFile(join(dir, 'bad'), -1), /is not a time/);
  });
});
