import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { warmupSettings, warmupSettingsOrThrow } from '../../src/warmup/warmup-settings.js';

describe('warm-up settings', () => {
  test('provider defaults follow the specification', () => {
    const m365 = warmupSettingsOrThrow('microsoft365');
    assert.deepEqual(
      [m365.volume.start, m365.volume.increment, m365.volume.incrementEveryDays, m365.volume.ceiling],
      [4, 1, 1, 20],
    );
    assert.equal(m365.volume.youngAccount, null);
    const outlook = warmupSettingsOrThrow('outlook_com');
    assert.deepEqual(
      [outlook.volume.start, outlook.volume.increment, outlook.volume.incrementEveryDays, outlook.volume.ceiling],
      [2, 1, 2, 15],
    );
    assert.deepEqual(outlook.volume.youngAccount, { ageDays: 30, ceiling: 10 });
    assert.equal(m365.timing.windowStart, 8 * 60 + 30);
    assert.equal(m365.timing.windowEnd, 18 * 60);
    assert.equal(m365.receive.replyRate, 0.3);
    assert.equal(m365.safety.spamQuarantineRate, 0.2);
    assert.equal(m365.weekends, false);
    assert.equal(m365.receiveOnly, false);
    assert.equal(m365.timeZoneOverride, null);
  });

  test('the settings are frozen', () => {
    const settings = warmupSettingsOrThrow('microsoft365');
    assert.throws(() => {
      (settings.volume as { start: number }).start = 99;
    }, TypeError);
  });

  const ACCEPTED: [string, unknown, (s: ReturnType<typeof warmupSettingsOrThrow>) => unknown, unknown][] = [
    ['ceiling at the limit 40', { dailyCeiling: 40 }, (s) => s.volume.ceiling, 40],
    ['ceiling 1 lowers the start too', { dailyCeiling: 1 }, (s) => [s.volume.start, s.volume.ceiling], [1, 1]],
    ['reply rate at the lower bound', { replyRate: 0.2 }, (s) => s.receive.replyRate, 0.2],
    ['reply rate at the upper bound', { replyRate: 0.45 }, (s) => s.receive.replyRate, 0.45],
    [
      'weekends and receive-only',
      { weekends: true, receiveOnly: true },
      (s) => [s.weekends, s.receiveOnly],
      [true, true],
    ],
    ['time zone override kept', { timeZone: 'Europe/Paris' }, (s) => s.timeZoneOverride, 'Europe/Paris'],
    [
      'a Windows time zone override',
      { timeZone: 'Pacific Standard Time' },
      (s) => s.timeZoneOverride,
      'Pacific Standard Time',
    ],
  ];
  for (const [name, options, read, expected] of ACCEPTED) {
    test(`accepts: ${name}`, () => assert.deepEqual(read(warmupSettingsOrThrow('microsoft365', options)), expected));
  }

  const REFUSED: [string, unknown, string][] = [
    ['ceiling above 40', { dailyCeiling: 41 }, 'dailyCeiling'],
    ['ceiling 0', { dailyCeiling: 0 }, 'dailyCeiling'],
    ['fractional ceiling', { dailyCeiling: 10.5 }, 'dailyCeiling'],
    ['reply rate just below 0.2', { replyRate: 0.19 }, 'replyRate'],
    ['reply rate just above 0.45', { replyRate: 0.46 }, 'replyRate'],
    ['weekends not a boolean', { weekends: 'yes' }, 'weekends'],
    ['an unknown option', { ceiling: 10 }, ''],
    ['options not an object', 'fast', ''],
    ['an unknown time zone', { timeZone: 'Mars/Olympus_Mons' }, 'timeZone'],
    ['"Customized Time Zone"', { timeZone: 'Customized Time Zone' }, 'timeZone'],
  ];
  for (const [name, options, path] of REFUSED) {
    test(`refuses: ${name}`, () => {
      const result = warmupSettings('microsoft365', options);
      assert.equal(result.ok, false);
      if (!result.ok) assert.ok(result.issues.some((issue) => issue.path === path && issue.message.length > 0));
    });
  }

  test('operator overrides pass through the same checks', () => {
    const ok = warmupSettingsOrThrow('microsoft365', {}, { safety: { spamWatchRate: 0.05 }, volume: { start: 6 } });
    assert.equal(ok.safety.spamWatchRate, 0.05);
    assert.equal(ok.safety.spamBlockRate, 0.4);
    assert.equal(ok.volume.start, 6);
    const refused: [string, Parameters<typeof warmupSettings>[2], string][] = [
      ['thresholds out of order', { safety: { spamWatchRate: 0.5 } }, 'safety.spamWatchRate'],
      ['start above the ceiling', { volume: { start: 30 } }, 'volume.start'],
      ['window ends before it starts', { timing: { windowStart: '19:00' } }, 'timing.windowStart'],
      ['not a clock time', { timing: { windowEnd: '25:00' } }, 'timing.windowEnd'],
      ['gap shorter than the send interval', { timing: { minGapMinutes: 5 } }, 'timing.minGapMinutes'],
      ['a probability above 1', { receive: { flagProbability: 1.5 } }, 'receive.flagProbability'],
      ['words out of order', { content: { minWords: 200 } }, 'content.minWords'],
    ];
    for (const [name, overrides, path] of refused) {
      const result = warmupSettings('microsoft365', {}, overrides);
      assert.equal(result.ok, false, name);
      if (!result.ok)
        assert.ok(
          result.issues.some((issue) => issue.path === path),
          `${name}: ${JSON.stringify(result)}`,
        );
    }
    assert.throws(() => warmupSettingsOrThrow('microsoft365', { dailyCeiling: 99 }), /dailyCeiling/);
  });
});
