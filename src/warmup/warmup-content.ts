import {
  COUNTS,
  DAYS,
  GENERAL_SENTENCES,
  GREETINGS,
  ITEMS,
  PEOPLE,
  PLACES,
  QUESTIONS,
  REPLY_OPENERS,
  REPLY_SENTENCES,
  SIGN_OFFS,
  TAGLINE_ADJECTIVES,
  TAGLINE_NOUNS,
  TIMES,
  TOPICS,
  type Topic,
} from './content-vocabulary.js';
import type { RandomSource } from './seeded-random.js';
import { chance, integerBetween, keyedSource, pickOne } from './seeded-random.js';
import type { WarmupSettings } from './warmup-settings.js';

/**
 * Warm-up mail (docs/warmup.md §D): threads of 3–5 turns on an everyday topic, each message plain text of 40–150
 * words with the sender's own greeting, sign-off and tagline. The tagline is the mailbox's identification phrase,
 * the backup to the `internetMessageId` recorded at send time; there is no marker shared by all mailboxes.
 *
 * Variety comes from combination: a topic, 3–10 sentences drawn without repetition from ~40, each with slots
 * filled from lists, in random order. Tests check that 1,000 mailboxes over 30 days never send the same body on a day.
 */

/** What makes a mailbox's mail recognisably its own, fixed for the mailbox. */
export interface MailboxVoice {
  /** A greeting with `{name}` for the recipient's first name. */
  readonly greeting: string;
  readonly signOff: string;
  /** The name the mailbox signs with. */
  readonly signatureName: string;
  /** The tagline under the signature; also the mailbox's identification phrase. */
  readonly phrase: string;
}

export interface ThreadPlan {
  readonly topic: Topic;
  readonly subject: string;
  /** Planned turns, opening included (3–5); the receiving side decides how many happen (§E). */
  readonly turns: number;
}

export interface WarmupMessage {
  readonly subject: string;
  /** Plain text, lines separated by `\n`. */
  readonly body: string;
  readonly words: number;
}

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** The mailbox's voice: a keyed draw, the same for the mailbox whatever else was drawn. */
export function mailboxVoice(seed: string, mailboxId: string, signatureName: string): MailboxVoice {
  const random = keyedSource(seed, 'voice', mailboxId);
  const phrase =
    `${capitalised(pickOne(random, TAGLINE_ADJECTIVES))} ${pickOne(random, TAGLINE_NOUNS)} and ` +
    `${pickOne(random, TAGLINE_ADJECTIVES)} ${pickOne(random, TAGLINE_NOUNS)}`;
  return {
    greeting: pickOne(random, GREETINGS),
    signOff: pickOne(random, SIGN_OFFS),
    signatureName: signatureName.trim(),
    phrase,
  };
}

function fill(template: string, topic: Topic, random: RandomSource): string {
  const filled = template.replace(/\{(thing|day|time|item|place|count|person)\}/g, (_, slot: string) => {
    switch (slot) {
      case 'thing':
        return topic.thing;
      case 'day':
        return pickOne(random, DAYS);
      case 'time':
        return pickOne(random, TIMES);
      case 'item':
        return pickOne(random, ITEMS);
      case 'place':
        return pickOne(random, PLACES);
      case 'count':
        return pickOne(random, COUNTS);
      default:
        return pickOne(random, PEOPLE);
    }
  });
  return capitalised(filled);
}

/** A new thread: topic, subject and planned number of turns. */
export function planThread(random: RandomSource, settings: WarmupSettings): ThreadPlan {
  const topic = pickOne(random, TOPICS);
  const subject = fill(pickOne(random, topic.subjects), topic, random);
  return { topic, subject, turns: integerBetween(random, settings.content.minTurns, settings.content.maxTurns) };
}

/** Words of text made of single-space-separated words (all of ours). */
const countWords = (text: string) => (text === '' ? 0 : text.split(' ').length);

interface TopicPools {
  readonly openings: readonly string[];
  readonly opening: readonly string[];
  readonly reply: readonly string[];
}
const pools = new Map<Topic, TopicPools>();

/** The sentence pools of a topic, built once. */
function poolsFor(topic: Topic): TopicPools {
  let found = pools.get(topic);
  if (found === undefined) {
    found = {
      openings: [...topic.sentences, ...GENERAL_SENTENCES.filter((s) => s.includes('{thing}'))],
      opening: [...topic.sentences, ...GENERAL_SENTENCES],
      reply: [...REPLY_SENTENCES, ...topic.sentences, ...GENERAL_SENTENCES],
    };
    pools.set(topic, found);
  }
  return found;
}

function greetingFor(voice: MailboxVoice, recipientName: string | null): string {
  const name = recipientName?.trim();
  if (name) return voice.greeting.replace('{name}', name);
  // No name known: the greeting without it ("Hi there,"), or a plain "Hello," for "{name},".
  const bare = voice.greeting.replace(/ ?\{name\}/, '').replace(/^[,!]$/, 'Hello,');
  return bare.startsWith(',') ? 'Hello,' : bare;
}

/** Sentences in order, without repetition, until the text reaches `targetWords`, never past `maxWords`. */
function drawSentences(
  first: string,
  pool: readonly string[],
  closing: string | null,
  budget: { target: number; max: number },
  topic: Topic,
  random: RandomSource,
): string[] {
  const remaining = [...pool];
  const sentences = [fill(first, topic, random)];
  const closingText = closing === null ? null : fill(closing, topic, random);
  let words = countWords(sentences[0]!) + (closingText === null ? 0 : countWords(closingText));
  while (words < budget.target && remaining.length > 0) {
    const index = Math.floor(random.next() * remaining.length);
    const sentence = fill(remaining.splice(index, 1)[0]!, topic, random);
    const length = countWords(sentence);
    if (words + length > budget.max) continue;
    sentences.push(sentence);
    words += length;
  }
  if (closingText !== null) sentences.push(closingText);
  return sentences;
}

/**
 * One message of a thread: `turn` 0 opens it, later turns reply with `Re:`. The last planned turn asks no question.
 */
export function composeWarmupMessage(
  request: {
    readonly voice: MailboxVoice;
    readonly recipientName: string | null;
    readonly thread: ThreadPlan;
    readonly turn: number;
    readonly random: RandomSource;
  },
  settings: WarmupSettings,
): WarmupMessage {
  const { voice, thread, turn, random } = request;
  const { minWords, maxWords } = settings.content;
  if (!Number.isInteger(turn) || turn < 0 || turn >= thread.turns) {
    throw new RangeError(`turn ${turn} is outside the thread's ${thread.turns} turns`);
  }
  const greeting = greetingFor(voice, request.recipientName);
  const closingLines = [voice.signOff, voice.signatureName, voice.phrase].filter((line) => line !== '');
  const frame = countWords(greeting) + countWords(closingLines.join(' '));
  // Most warm-up mail is short: the text aims at 40–110 words in all, capped at 150.
  const target = integerBetween(random, minWords, Math.min(maxWords, minWords + 70)) - frame;
  const budget = { target, max: maxWords - frame };
  const last = turn === thread.turns - 1;
  const pool = poolsFor(thread.topic);
  const sentences =
    turn === 0
      ? drawSentences(
          pickOne(random, pool.openings),
          pool.opening,
          pickOne(random, QUESTIONS),
          budget,
          thread.topic,
          random,
        )
      : drawSentences(
          pickOne(random, REPLY_OPENERS),
          pool.reply,
          !last && chance(random, 0.7) ? pickOne(random, QUESTIONS) : null,
          budget,
          thread.topic,
          random,
        );
  // One or two paragraphs, as people write short mail.
  const split = sentences.length > 4 && chance(random, 0.6) ? integerBetween(random, 2, sentences.length - 2) : 0;
  const paragraphs =
    split === 0 ? [sentences.join(' ')] : [sentences.slice(0, split).join(' '), sentences.slice(split).join(' ')];
  const body = [greeting, '', ...paragraphs.flatMap((p, i) => (i === 0 ? [p] : ['', p])), '', ...closingLines].join(
    '\n',
  );
  const subject = turn === 0 ? thread.subject : `Re: ${thread.subject}`;
  return { subject, body, words: body.split(/\s+/).filter((word) => word !== '').length };
}
