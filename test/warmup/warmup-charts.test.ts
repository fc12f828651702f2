import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type PlacementDay,
  renderPlacementChart,
  renderVolumeChart,
  type VolumeDay,
} from '../../src/warmup/warmup-charts.js';

/** `n` consecutive dates from 2026-12-01. */
function dates(n: number): string[] {
  return Array.from({ length: n }, (_, i) => new Date(Date.UTC(2026, 11, 1 + i)).toISOString().slice(0, 10));
}

/** Attributes of every element `<tag class="cls" …>` in the markup, as numbers where they are numeric. */
function elements(svg: string, tag: string, cls: string): Record<string, string>[] {
  return [...svg.matchAll(new RegExp(`<${tag} class="${cls}"([^>]*)>`, 'g'))].map((match) =>
    Object.fromEntries([...(match[1] ?? '').matchAll(/([a-z0-9-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]])),
  );
}

/** The CSP the dashboard runs under allows none of these (src/app.ts): a chart must not need them. */
function assertCspSafe(svg: string): void {
  assert.doesNotMatch(svg, /<script/i);
  assert.doesNotMatch(svg, /\son[a-z]+=/i, 'no inline event handler');
  assert.doesNotMatch(svg, /\sstyle=/i, 'no inline style attribute');
  assert.doesNotMatch(svg, /<style/i, 'no style element');
  assert.doesNotMatch(svg, /javascript:/i);
  assert.doesNotMatch(svg, /href=/i, 'no links or external references');
}

/** Every opened element is closed in order (the markup is well-formed XML as far as elements go). */
function assertBalanced(svg: string): void {
  const stack: string[] = [];
  for (const match of svg.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = match;
    if (selfClosing) continue;
    if (closing) assert.equal(stack.pop(), name, `closing ${name}`);
    else stack.push(name ?? '');
  }
  assert.deepEqual(stack, []);
}

const volume = (planned: number[], sent: number[]): VolumeDay[] =>
  dates(planned.length).map((date, i) => ({ date, planned: planned[i] ?? 0, sent: sent[i] ?? 0 }));
const placement = (inbox: number[], junk: number[]): PlacementDay[] =>
  dates(inbox.length).map((date, i) => ({ date, inbox: inbox[i] ?? 0, junk: junk[i] ?? 0 }));

describe('warm-up charts: the volume ramp', () => {
  const CASES: { name: string; days: VolumeDay[]; bars: number; text: RegExp }[] = [
    { name: 'empty series', days: [], bars: 0, text: /No warm-up days yet/ },
    { name: 'one day', days: volume([4], [3]), bars: 1, text: /On 1 Dec: 3 warm-up messages sent of 4 planned/ },
    {
      name: '30 days',
      days: volume(
        Array.from({ length: 30 }, (_, i) => Math.min(20, 4 + i)),
        Array.from({ length: 30 }, (_, i) => Math.min(20, 4 + i) - (i % 3)),
      ),
      bars: 30,
      text: /30 days from 1 Dec to 30 Dec: 434 warm-up messages sent of 464 planned; the plan went from 4 to 20 a day/,
    },
    {
      name: 'zeros',
      days: volume([0, 0, 0], [0, 0, 0]),
      bars: 3,
      text: /3 days from 1 Dec to 3 Dec: 0 warm-up messages sent of 0 planned/,
    },
  ];
  for (const { name, days, bars, text } of CASES) {
    test(name, () => {
      const svg = renderVolumeChart(days, { id: 'ramp', title: 'Daily volume' }).toString();
      assertCspSafe(svg);
      assertBalanced(svg);
      assert.match(svg, /^<svg class="chart" id="ramp" [^>]*role="img" aria-labelledby="ramp-title ramp-desc"/);
      assert.match(svg, /<title id="ramp-title">Daily volume<\/title>/);
      assert.match(svg, new RegExp(`<desc id="ramp-desc">${text.source}`));
      assert.equal(elements(svg, 'rect', 'bar-sent').length, bars);
      assert.equal(elements(svg, 'circle', 'point-planned').length, bars);
      if (bars > 0) assert.match(svg, /Within the warm-up network\./);
    });
  }

  test('bars are as tall as their value on an axis that starts at 0 and ends on a round number', () => {
    const svg = renderVolumeChart(volume([10, 20], [5, 17]), { id: 'r', title: 't' }).toString();
    const labels = [...svg.matchAll(/<text class="y-label"[^>]*>(\d+)<\/text>/g)].map((m) => Number(m[1]));
    assert.deepEqual(labels, [0, 5, 10, 15, 20]);
    const [first, second] = elements(svg, 'rect', 'bar-sent').map((a) => Number(a['height']));
    assert.ok(first !== undefined && second !== undefined);
    assert.ok(Math.abs(first / second - 5 / 17) < 0.01, `heights ${first} and ${second}`);
    // The planned line's highest point (20) sits on the top grid line.
    const points = elements(svg, 'circle', 'point-planned').map((a) => Number(a['cy']));
    const grid = elements(svg, 'line', 'grid').map((a) => Number(a['y1']));
    assert.equal(points[1], Math.min(...grid));
  });

  test('an all-zero series still has a readable axis (0 to 4) and bars of height 0', () => {
    const svg = renderVolumeChart(volume([0, 0], [0, 0]), { id: 'z', title: 't' }).toString();
    const labels = [...svg.matchAll(/<text class="y-label"[^>]*>(\d+)<\/text>/g)].map((m) => Number(m[1]));
    assert.deepEqual(labels, [0, 1, 2, 3, 4]);
    assert.deepEqual(
      elements(svg, 'rect', 'bar-sent').map((a) => a['height']),
      ['0', '0'],
    );
  });

  test('30 days carry at most 8 date labels, and every day has its own tooltip', () => {
    const days = volume(
      Array.from({ length: 30 }, () => 5),
      Array.from({ length: 30 }, () => 5),
    );
    const svg = renderVolumeChart(days, { id: 'r', title: 't' }).toString();
    const labels = [...svg.matchAll(/<text class="x-label"[^>]*>([^<]+)<\/text>/g)].map((m) => m[1]);
    assert.ok(labels.length <= 8 && labels.length >= 4, `${labels.length} labels`);
    assert.equal(labels[0], '1 Dec');
    assert.match(svg, /<title>30 Dec: 5 sent of 5 planned<\/title>/);
  });

  test('escapes the title and id it is given', () => {
    const svg = renderVolumeChart(volume([1], [1]), {
      id: 'a"b',
      title: '<script>alert(1)</script> & "quotes"',
    }).toString();
    assertCspSafe(svg);
    assert.match(svg, /&lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; &quot;quotes&quot;/);
    assert.match(svg, /id="a&quot;b"/);
  });

  test('refuses what cannot be a day of counts (a caller bug, not data to draw)', () => {
    const bad: [string, VolumeDay][] = [
      ['not a date', { date: '1 Dec', planned: 1, sent: 1 }],
      ['impossible date', { date: '2026-13-40', planned: 1, sent: 1 }],
      ['negative', { date: '2026-12-01', planned: -1, sent: 1 }],
      ['fraction', { date: '2026-12-01', planned: 1, sent: 0.5 }],
      ['NaN', { date: '2026-12-01', planned: Number.NaN, sent: 1 }],
    ];
    for (const [name, day] of bad) {
      assert.throws(() => renderVolumeChart([day], { id: 'r', title: 't' }), RangeError, name);
    }
  });
});

describe('warm-up charts: placement per day', () => {
  const CASES: { name: string; days: PlacementDay[]; inbox: number; junk: number; text: RegExp }[] = [
    { name: 'empty series', days: [], inbox: 0, junk: 0, text: /Nothing observed yet/ },
    {
      name: 'one day',
      days: placement([6], [4]),
      inbox: 1,
      junk: 1,
      text: /On 1 Dec: partners found 10 of this mailbox’s warm-up messages, 6 in the Inbox and 4 in Junk Email; 60% landed in the Inbox/,
    },
    {
      name: '30 days',
      days: placement(
        Array.from({ length: 30 }, (_, i) => 3 + Math.floor(i / 2)),
        Array.from({ length: 30 }, (_, i) => (i < 15 ? 2 : 0)),
      ),
      inbox: 30,
      junk: 15,
      text: /30 days from 1 Dec to 30 Dec: partners found 330 .* 300 in the Inbox and 30 in Junk Email; 91% landed/,
    },
    {
      name: 'zeros',
      days: placement([0, 0], [0, 0]),
      inbox: 0,
      junk: 0,
      text: /2 days from 1 Dec to 2 Dec: partners found 0 of this mailbox’s warm-up messages.*nothing was observed/,
    },
  ];
  for (const { name, days, inbox, junk, text } of CASES) {
    test(name, () => {
      const svg = renderPlacementChart(days, { id: 'place', title: 'Where the mail landed' }).toString();
      assertCspSafe(svg);
      assertBalanced(svg);
      assert.match(svg, /role="img" aria-labelledby="place-title place-desc"/);
      assert.match(svg, new RegExp(`<desc id="place-desc">${text.source}`));
      assert.equal(elements(svg, 'rect', 'bar-inbox').length, inbox, 'inbox bars');
      assert.equal(elements(svg, 'rect', 'bar-junk').length, junk, 'junk bars');
      assert.equal(elements(svg, 'g', 'day').length, days.length, 'one group with a tooltip per day');
    });
  }

  test('junk stacks on top of inbox, and the stack is as tall as the day’s total', () => {
    const svg = renderPlacementChart(placement([6, 10], [4, 0]), { id: 'p', title: 't' }).toString();
    const [inbox6, inbox10] = elements(svg, 'rect', 'bar-inbox');
    const [junk4] = elements(svg, 'rect', 'bar-junk');
    assert.ok(inbox6 && inbox10 && junk4);
    // The junk part ends where the inbox part begins.
    assert.equal(Number(junk4['y']) + Number(junk4['height']), Number(inbox6['y']));
    // Day 1 (6 + 4) stands as tall as day 2 (10 + 0).
    assert.ok(Math.abs(Number(junk4['y']) - Number(inbox10['y'])) < 0.11);
    assert.match(svg, /<title>1 Dec: 6 in Inbox, 4 in Junk Email<\/title>/);
  });
});
