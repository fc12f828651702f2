/**
 * Server-rendered HTML with escaping by default: every interpolated value is escaped unless it is itself the
 * result of `html` (or `unsafeRaw`, for trusted constant markup). Arrays are joined. null/undefined/false render
 * nothing, so conditionals read naturally: html`${cond && html`<p>…</p>`}`.
 */
const RAW = Symbol('mailbridge.html');

export interface Html {
  readonly [RAW]: string;
  toString(): string;
}

function wrap(value: string): Html {
  return { [RAW]: value, toString: () => value };
}

export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

type Interpolation = Html | string | number | boolean | null | undefined | ReadonlyArray<Interpolation>;

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map((item) => render(item)).join('');
  if (typeof value === 'object' && RAW in value) return (value as Html)[RAW];
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Html {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return wrap(out);
}

/** Markup written by us (never user input). */
export function unsafeRaw(markup: string): Html {
  return wrap(markup);
}
