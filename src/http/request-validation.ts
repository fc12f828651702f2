import type { z } from 'zod';
import { AppError } from '../errors/app-error.js';

export type RequestPart = 'path' | 'query' | 'body';

export interface RequestIssue {
  location: RequestPart;
  /** Dotted path of the field (`returnUrl`, `allowedReturnUrls.2`); empty for the whole part. */
  field: string;
  /** zod's issue code (`invalid_type`, `too_small`, `unrecognized_keys`, …). */
  code: string;
  message: string;
}

/**
 * Parses one part of a request with its schema, or throws 400 `REQUEST_INVALID` whose `details.issues` names every
 * field that is wrong and why. Validation happens before any work, so a rejected request changes nothing.
 */
export function parseRequestOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  location: RequestPart,
): z.output<S> {
  const result = schema.safeParse(value ?? (location === 'body' ? undefined : {}));
  if (result.success) return result.data;
  const issues: RequestIssue[] = [];
  for (const issue of result.error.issues) {
    const base = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      // One issue per unknown field, so the field is named like any other.
      for (const key of issue.keys) {
        issues.push({ location, field: base ? `${base}.${key}` : key, code: issue.code, message: 'unknown field' });
      }
    } else {
      issues.push({ location, field: base, code: issue.code, message: issue.message });
    }
  }
  const first = issues[0];
  const where = first ? `${first.location}${first.field ? `.${first.field}` : ''}` : location;
  const summary =
    value === undefined && location === 'body' ? 'a JSON body is required' : `${where}: ${first?.message ?? 'invalid'}`;
  throw new AppError(
    'REQUEST_INVALID',
    `Invalid request: ${summary}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}.`,
    { status: 400, details: { issues } },
  );
}
