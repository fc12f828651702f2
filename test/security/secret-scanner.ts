/**
 * Looks for known secret values in text and bytes (logs, HTTP answers, pages, webhook bodies, database files), in
 * the forms a leak usually takes: as is, base64 (at any byte alignment inside a longer base64 text), base64url,
 * hex, percent-encoded, form-encoded, and JSON-escaped.
 */
export interface KnownSecret {
  name: string;
  value: string | Buffer;
}

export interface Haystack {
  name: string;
  content: string | Buffer;
}

export interface Finding {
  secret: string;
  form: string;
  haystack: string;
  /** Byte offset of the first occurrence. */
  offset: number;
  /** A few bytes around it, the secret itself masked, to tell where it sits. */
  context: string;
}

/** Shorter values would match by chance in megabytes of database file. */
export const MIN_SECRET_LENGTH = 8;
/** Shorter base64 cores of an unaligned secret would match by chance. */
const MIN_CORE_LENGTH = 12;

/** The byte patterns a secret may appear as. */
export function encodedForms(value: string | Buffer): Array<{ form: string; bytes: Buffer }> {
  const raw = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (raw.length < MIN_SECRET_LENGTH) {
    throw new Error(`a secret of ${raw.length} bytes is too short to scan for reliably (min ${MIN_SECRET_LENGTH})`);
  }
  const forms: Array<{ form: string; text: string | Buffer }> = [
    { form: 'raw', text: raw },
    { form: 'base64', text: raw.toString('base64').replace(/=+$/, '') },
    { form: 'base64url', text: raw.toString('base64url') },
    { form: 'hex', text: raw.toString('hex') },
    { form: 'HEX', text: raw.toString('hex').toUpperCase() },
  ];
  // Inside a longer base64 text the secret may start at any of three byte offsets; the characters that encode only
  // the secret's own bytes are the same whatever precedes or follows it.
  for (const shift of [0, 1, 2]) {
    const shifted = Buffer.concat([Buffer.alloc(shift), raw]).toString('base64');
    const start = Math.ceil((shift * 4) / 3);
    const end = Math.floor(((shift + raw.length) * 4) / 3);
    const core = shifted.slice(start, end);
    if (core.length >= MIN_CORE_LENGTH) {
      forms.push({ form: `base64 (offset ${shift})`, text: core });
      forms.push({ form: `base64url (offset ${shift})`, text: core.replaceAll('+', '-').replaceAll('/', '_') });
    }
  }
  if (typeof value === 'string') {
    forms.push({ form: 'percent-encoded', text: encodeURIComponent(value) });
    forms.push({ form: 'form-encoded', text: new URLSearchParams({ x: value }).toString().slice(2) });
    forms.push({ form: 'JSON-escaped', text: JSON.stringify(value).slice(1, -1) });
    forms.push({ form: 'HTML-escaped', text: value.replaceAll('&', '&amp;').replaceAll('"', '&quot;') });
  }
  const seen = new Set<string>();
  const out: Array<{ form: string; bytes: Buffer }> = [];
  for (const { form, text } of forms) {
    const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    const key = bytes.toString('hex');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ form, bytes });
  }
  return out;
}

/** Every (secret, form, haystack) found; empty when nothing leaked. */
export function scanForSecrets(haystacks: readonly Haystack[], secrets: readonly KnownSecret[]): Finding[] {
  const findings: Finding[] = [];
  const patterns = secrets.flatMap((secret) =>
    encodedForms(secret.value).map((form) => ({ secret: secret.name, ...form })),
  );
  for (const haystack of haystacks) {
    const bytes = typeof haystack.content === 'string' ? Buffer.from(haystack.content, 'utf8') : haystack.content;
    for (const pattern of patterns) {
      const offset = bytes.indexOf(pattern.bytes);
      if (offset === -1) continue;
      const before = bytes.subarray(Math.max(0, offset - 40), offset).toString('latin1');
      const after = bytes
        .subarray(offset + pattern.bytes.length, offset + pattern.bytes.length + 40)
        .toString('latin1');
      findings.push({
        secret: pattern.secret,
        form: pattern.form,
        haystack: haystack.name,
        offset,
        context: `${before}<${pattern.secret}>${after}`.replace(/[^\x20-\x7e]/g, '.'),
      });
    }
  }
  return findings;
}

/** A readable list for an assertion message. */
export function describeFindings(findings: readonly Finding[]): string {
  return findings
    .map((f) => `- ${f.secret} (${f.form}) in ${f.haystack} at byte ${f.offset}: …${f.context}…`)
    .join('\n');
}
