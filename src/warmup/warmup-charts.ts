import { type Html, html } from '../web/html.js';

/**
 * The warm-up dashboard's charts, drawn on the server as inline SVG (issue 12: "no client JavaScript needed, the
 * pages keep their strict CSP"). The app's CSP (src/app.ts) allows no inline script and no inline style, so the
 * markup uses only elements and presentation attributes (`fill`, `stroke`): no `<script>`, no `on…` handler, no
 * `style=` and no `<style>`. Every text is escaped by `html`. Each chart is an `role="img"` with a `<title>` and a
 * `<desc>` that says in words what it shows, and each day's column has its own `<title>` (a tooltip without
 * script). The figures are those of the warm-up network only (docs/warmup.md §F), and the descriptions say so.
 */

/** One local date of the volume ramp: what the plan (§A) allowed and what was sent (replies included). */
export interface VolumeDay {
  /** `YYYY-MM-DD`, the mailbox's local date. */
  readonly date: string;
  readonly planned: number;
  readonly sent: number;
}

/** One local date of placement: where partners found this mailbox's mail before touching it (§E step 1). */
export interface PlacementDay {
  readonly date: string;
  readonly inbox: number;
  readonly junk: number;
}

export interface ChartOptions {
  /** Prefix of the ids inside the SVG (title, description), unique on the page. */
  readonly id: string;
  readonly title: string;
}

const WIDTH = 640;
const HEIGHT = 240;
const PLOT = { left: 44, right: 12, top: 28, bottom: 36 } as const;
const PLOT_WIDTH = WIDTH - PLOT.left - PLOT.right;
const PLOT_HEIGHT = HEIGHT - PLOT.top - PLOT.bottom;
/** The top line: the y axis's unit at the left, then the legend (clear of the unit's text). */
const LEGEND_BASELINE = 17;
const LEGEND_LEFT = 110;
/** At most this many date labels under the x axis, so they never overlap at 640 px. */
const MAX_DATE_LABELS = 8;

/** The app's palette (src/web/assets/app.css): ok green, bad red, accent blue, muted grey, lines. */
const COLOURS = {
  sent: '#0b57d0',
  planned: '#b06000',
  inbox: '#137333',
  junk: '#b3261e',
  axis: '#5f6368',
  grid: '#dadce0',
};

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The daily volume ramp: a bar per day for what was sent, a line with markers for what was planned. */
export function renderVolumeChart(days: readonly VolumeDay[], options: ChartOptions): Html {
  for (const day of days) checkDay(day.date, { planned: day.planned, sent: day.sent });
  if (days.length === 0) return emptyChart(options, 'No warm-up days yet: the ramp appears after the first day.');
  const sentTotal = sum(days.map((d) => d.sent));
  const plannedTotal = sum(days.map((d) => d.planned));
  const scale = yScale(Math.max(...days.map((d) => Math.max(d.planned, d.sent))));
  const column = columns(days.length);
  const bars = days.map((day, i) => {
    const { x, width } = column(i);
    const top = scale.y(day.sent);
    return html`<rect class="bar-sent" x="${fmt(x)}" y="${fmt(top)}" width="${fmt(width)}" height="${fmt(scale.y(0) - top)}" fill="${COLOURS.sent}"><title>${dayLabel(day.date)}: ${day.sent} sent of ${day.planned} planned</title></rect>`;
  });
  const points = days.map((day, i) => ({ x: column(i).centre, y: scale.y(day.planned) }));
  const line = html`<polyline class="line-planned" points="${points.map((p) => `${fmt(p.x)},${fmt(p.y)}`).join(' ')}" fill="none" stroke="${COLOURS.planned}" stroke-width="2"/>`;
  const markers = points.map(
    (p, i) =>
      html`<circle class="point-planned" cx="${fmt(p.x)}" cy="${fmt(p.y)}" r="3" fill="${COLOURS.planned}"><title>${dayLabel(days[i]?.date ?? '')}: ${days[i]?.planned ?? 0} planned</title></circle>`,
  );
  const description =
    `${span(days)}: ${sentTotal} warm-up messages sent of ${plannedTotal} planned; ` +
    `the plan went from ${days[0]?.planned} to ${days.at(-1)?.planned} a day. Within the warm-up network.`;
  return frame(
    options,
    description,
    html`${axes(scale, days, column)}${bars}${line}${markers}${legend([
      ['Sent', COLOURS.sent, 'bar'],
      ['Planned', COLOURS.planned, 'line'],
    ])}`,
  );
}

/** Placement per day: stacked bars, Inbox below (green) and Junk Email above (red). */
export function renderPlacementChart(days: readonly PlacementDay[], options: ChartOptions): Html {
  for (const day of days) checkDay(day.date, { inbox: day.inbox, junk: day.junk });
  if (days.length === 0) {
    return emptyChart(options, 'Nothing observed yet: placement appears once partners have found this mailbox’s mail.');
  }
  const inboxTotal = sum(days.map((d) => d.inbox));
  const junkTotal = sum(days.map((d) => d.junk));
  const observed = inboxTotal + junkTotal;
  const scale = yScale(Math.max(...days.map((d) => d.inbox + d.junk)));
  const column = columns(days.length);
  const bars = days.map((day, i) => {
    const { x, width } = column(i);
    const inboxTop = scale.y(day.inbox);
    const junkTop = scale.y(day.inbox + day.junk);
    const label = `${dayLabel(day.date)}: ${day.inbox} in Inbox, ${day.junk} in Junk Email`;
    return html`<g class="day"><title>${label}</title>${
      day.inbox > 0
        ? html`<rect class="bar-inbox" x="${fmt(x)}" y="${fmt(inboxTop)}" width="${fmt(width)}" height="${fmt(scale.y(0) - inboxTop)}" fill="${COLOURS.inbox}"/>`
        : ''
    }${
      day.junk > 0
        ? html`<rect class="bar-junk" x="${fmt(x)}" y="${fmt(junkTop)}" width="${fmt(width)}" height="${fmt(inboxTop - junkTop)}" fill="${COLOURS.junk}"/>`
        : ''
    }</g>`;
  });
  const share = observed === 0 ? 'nothing was observed' : `${percent(inboxTotal / observed)} landed in the Inbox`;
  const description =
    `${span(days)}: partners found ${observed} of this mailbox’s warm-up messages, ${inboxTotal} in the Inbox and ` +
    `${junkTotal} in Junk Email; ${share}. Within the warm-up network.`;
  return frame(
    options,
    description,
    html`${axes(scale, days, column)}${bars}${legend([
      ['Inbox', COLOURS.inbox, 'bar'],
      ['Junk Email', COLOURS.junk, 'bar'],
    ])}`,
  );
}

// ----- parts -------------------------------------------------------------------------------------------------------

function frame(options: ChartOptions, description: string, body: Html): Html {
  const titleId = `${options.id}-title`;
  const descId = `${options.id}-desc`;
  return html`<svg class="chart" id="${options.id}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="100%" role="img" aria-labelledby="${titleId} ${descId}" font-family="system-ui, sans-serif" font-size="11"><title id="${titleId}">${options.title}</title><desc id="${descId}">${description}</desc>${body}</svg>`;
}

function emptyChart(options: ChartOptions, message: string): Html {
  return frame(
    options,
    message,
    html`<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT_WIDTH}" height="${PLOT_HEIGHT}" fill="none" stroke="${COLOURS.grid}"/><text class="empty" x="${WIDTH / 2}" y="${HEIGHT / 2}" text-anchor="middle" fill="${COLOURS.axis}">${message}</text>`,
  );
}

interface Scale {
  readonly top: number;
  readonly ticks: readonly number[];
  y(value: number): number;
}

/**
 * A y axis from 0 to a round number at or above `max`, in steps of 1, 2 or 5 × 10ⁿ with at most 5 intervals; an
 * all-zero series still gets an axis 0–4 so that its bars sit on a readable scale.
 */
function yScale(max: number): Scale {
  const target = Math.max(max, 4);
  let step = 1;
  for (let magnitude = 1; ; magnitude *= 10) {
    const found = [1, 2, 5].map((m) => m * magnitude).find((s) => Math.ceil(target / s) <= 5);
    if (found !== undefined) {
      step = found;
      break;
    }
  }
  const top = Math.ceil(target / step) * step;
  const ticks = Array.from({ length: top / step + 1 }, (_, i) => i * step);
  return { top, ticks, y: (value) => PLOT.top + PLOT_HEIGHT - (value / top) * PLOT_HEIGHT };
}

/** Column `i` of `n`: a bar 70% of its slot wide (at most 40, so a few days do not look like a wall), centred. */
function columns(n: number): (i: number) => { x: number; width: number; centre: number } {
  const slot = PLOT_WIDTH / n;
  const width = Math.min(40, Math.max(1, slot * 0.7));
  return (i) => {
    const centre = PLOT.left + slot * (i + 0.5);
    return { x: centre - width / 2, width, centre };
  };
}

function axes(scale: Scale, days: readonly { date: string }[], column: ReturnType<typeof columns>): Html {
  const baseline = scale.y(0);
  const grid = scale.ticks.map(
    (tick) =>
      html`<line class="grid" x1="${PLOT.left}" x2="${WIDTH - PLOT.right}" y1="${fmt(scale.y(tick))}" y2="${fmt(scale.y(tick))}" stroke="${COLOURS.grid}"/><text class="y-label" x="${PLOT.left - 6}" y="${fmt(scale.y(tick) + 4)}" text-anchor="end" fill="${COLOURS.axis}">${tick}</text>`,
  );
  const every = Math.ceil(days.length / MAX_DATE_LABELS);
  const labels = days.flatMap((day, i) =>
    i % every === 0
      ? [
          html`<text class="x-label" x="${fmt(column(i).centre)}" y="${fmt(baseline + 16)}" text-anchor="middle" fill="${COLOURS.axis}">${dayLabel(day.date)}</text>`,
        ]
      : [],
  );
  return html`<g class="axes">${grid}<line class="x-axis" x1="${PLOT.left}" x2="${WIDTH - PLOT.right}" y1="${fmt(baseline)}" y2="${fmt(baseline)}" stroke="${COLOURS.axis}"/><line class="y-axis" x1="${PLOT.left}" x2="${PLOT.left}" y1="${PLOT.top}" y2="${fmt(baseline)}" stroke="${COLOURS.axis}"/><text class="y-unit" x="4" y="${LEGEND_BASELINE}" fill="${COLOURS.axis}">messages a day</text>${labels}</g>`;
}

function legend(entries: readonly [label: string, colour: string, kind: 'bar' | 'line'][]): Html {
  let x = LEGEND_LEFT;
  const items = entries.map(([label, colour, kind]) => {
    const swatch =
      kind === 'bar'
        ? html`<rect x="${x}" y="${LEGEND_BASELINE - 9}" width="10" height="10" fill="${colour}"/>`
        : html`<line x1="${x}" x2="${x + 10}" y1="${LEGEND_BASELINE - 4}" y2="${LEGEND_BASELINE - 4}" stroke="${colour}" stroke-width="2"/>`;
    const item = html`<g class="legend-item">${swatch}<text x="${x + 14}" y="${LEGEND_BASELINE}" fill="${COLOURS.axis}">${label}</text></g>`;
    x += 24 + label.length * 7;
    return item;
  });
  return html`<g class="legend" aria-hidden="true">${items}</g>`;
}

// ----- helpers -----------------------------------------------------------------------------------------------------

/** A day must be a real `YYYY-MM-DD` with counts that are whole and not negative: anything else is a caller's bug. */
function checkDay(date: string, counts: Record<string, number>): void {
  if (!DATE.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`))) {
    throw new RangeError(`chart day ${JSON.stringify(date)} is not a YYYY-MM-DD date`);
  }
  for (const [name, value] of Object.entries(counts)) {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`chart day ${date}: ${name} is ${value}`);
  }
}

/** `2026-12-03` → "3 Dec". */
function dayLabel(date: string): string {
  const match = DATE.exec(date);
  return match ? `${Number(match[3])} ${MONTHS[Number(match[2]) - 1]}` : date;
}

function span(days: readonly { date: string }[]): string {
  const first = days[0]?.date ?? '';
  const last = days.at(-1)?.date ?? '';
  return days.length === 1
    ? `On ${dayLabel(first)}`
    : `${days.length} days from ${dayLabel(first)} to ${dayLabel(last)}`;
}

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
const percent = (ratio: number) => `${Math.round(ratio * 100)}%`;
/** Coordinates with at most one decimal: shorter markup, no visible difference. */
const fmt = (value: number) => String(Math.round(value * 10) / 10);
