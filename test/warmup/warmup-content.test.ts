import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { keyedSource, seededSource } from '../../src/warmup/seeded-random.js';
import { composeWarmupMessage, mailboxVoice, planThread } from '../../src/warmup/warmup-content.js';
import { warmupSettingsOrThrow } from '../../src/warmup/warmup-settings.js';

const settings = warmupSettingsOrThrow('microsoft365');
/** Anything that could be read as a link, an address or a tracking code. */
const LINK_LIKE = /https?:|www|:\/\/|@|\w\.\w|\b\d{3,}\b|[<>[\]{}]/i;

describe('warm-up content (§D)', () => {
  test('1,000 mailboxes × 30 days: no two bodies alike on a day, 40–150 words, plain, no links', () => {
    const voices = Array.from({ length: 1000 }, (_, i) => mailboxVoice('fleet', `mbx_${i}`, `Name${i % 37}`));
    let turnsSeen = 0;
    for (let day = 0; day < 30; day++) {
      const bodies = new Set<string>();
      const texts = new Set<string>();
      for (let i = 0; i < 1000; i++) {
        const random = keyedSource('fleet', 'content', `mbx_${i}`, day);
        const thread = planThread(random, settings);
        const turn = (i + day) % thread.turns;
        turnsSeen = Math.max(turnsSeen, thread.turns);
        const message = composeWarmupMessage(
          { voice: voices[i]!, recipientName: 'Sam', thread, turn, random },
          settings,
        );
        assert.ok(message.words >= 40 && message.words <= 150, `${message.words} words`);
        assert.doesNotMatch(message.body, LINK_LIKE);
        assert.doesNotMatch(message.subject, LINK_LIKE);
        assert.equal(bodies.has(message.body), false, `day ${day}: a body repeated`);
        bodies.add(message.body);
        // Without the mailbox's own greeting and signature the text itself still differs.
        const text = message.body.split('\n').slice(2, -4).join('\n');
        assert.equal(texts.has(text), false, `day ${day}: a text repeated:\n${text}`);
        texts.add(text);
      }
    }
    assert.equal(turnsSeen, 5);
  });

  test('a thread: 3–5 turns, the opening subject, then Re: replies alternating voices', () => {
    const random = seededSource('thread');
    const turns = new Set<number>();
    for (let i = 0; i < 200; i++) turns.add(planThread(random, settings).turns);
    assert.deepEqual([...turns].sort(), [3, 4, 5]);
    const thread = { ...planThread(random, settings), turns: 5 };
    const alex = mailboxVoice('s', 'mbx_alex', 'Alex');
    const megan = mailboxVoice('s', 'mbx_megan', 'Megan');
    for (let turn = 0; turn < 5; turn++) {
      const voice = turn % 2 === 0 ? alex : megan;
      const message = composeWarmupMessage(
        { voice, recipientName: turn % 2 === 0 ? 'Megan' : 'Alex', thread, turn, random },
        settings,
      );
      assert.equal(message.subject, turn === 0 ? thread.subject : `Re: ${thread.subject}`);
      const lines = message.body.split('\n');
      assert.equal(lines[0], voice.greeting.replace('{name}', turn % 2 === 0 ? 'Megan' : 'Alex'));
      assert.deepEqual(lines.slice(-3), [voice.signOff, voice.signatureName, voice.phrase]);
      if (turn === 4) assert.doesNotMatch(lines.slice(2, -4).join(' '), /\?/, 'the last turn asks nothing');
    }
    assert.throws(() => composeWarmupMessage({ voice: alex, recipientName: 'M', thread, turn: 5, random }, settings));
    assert.throws(() => composeWarmupMessage({ voice: alex, recipientName: 'M', thread, turn: -1, random }, settings));
  });

  test("a mailbox's voice is fixed; phrases differ between mailboxes and appear in every body", () => {
    assert.deepEqual(mailboxVoice('s', 'mbx_1', 'Alex'), mailboxVoice('s', 'mbx_1', 'Alex'));
    const phrases = new Set<string>();
    for (let i = 0; i < 2000; i++) phrases.add(mailboxVoice('s', `mbx_${i}`, 'A').phrase);
    assert.ok(phrases.size >= 1999, `${phrases.size} distinct phrases`);
    const voice = mailboxVoice('s', 'mbx_1', 'Alex');
    const random = seededSource('p');
    const message = composeWarmupMessage(
      { voice, recipientName: 'Sam', thread: planThread(random, settings), turn: 0, random },
      settings,
    );
    assert.ok(message.body.includes(voice.phrase));
  });

  const GREETINGS: [string, string | null, string][] = [
    ['Hi {name},', 'Sam', 'Hi Sam,'],
    ['Hi {name},', null, 'Hi,'],
    ['Hi there {name},', '  ', 'Hi there,'],
    ['{name},', null, 'Hello,'],
    ['Hi {name}!', null, 'Hi!'],
  ];
  for (const [greeting, name, expected] of GREETINGS) {
    test(`greeting "${greeting}" to ${JSON.stringify(name)}`, () => {
      const voice = { ...mailboxVoice('s', 'mbx_1', 'Alex'), greeting };
      const random = seededSource('g');
      const message = composeWarmupMessage(
        { voice, recipientName: name, thread: planThread(random, settings), turn: 0, random },
        settings,
      );
      assert.equal(message.body.split('\n')[0], expected);
    });
  }

  test('narrow word limits are honoured', () => {
    const narrow = warmupSettingsOrThrow('microsoft365', {}, { content: { minWords: 60, maxWords: 70 } });
    const random = seededSource('narrow');
    for (let i = 0; i < 300; i++) {
      const thread = planThread(random, narrow);
      const message = composeWarmupMessage(
        { voice: mailboxVoice('n', `m${i}`, 'Alex'), recipientName: 'Sam', thread, turn: i % thread.turns, random },
        narrow,
      );
      assert.ok(message.words >= 60 && message.words <= 70, `${message.words}`);
    }
  });
});
