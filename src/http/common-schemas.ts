import { z } from 'zod';

/**
 * The pieces of the host API's schemas every module's routes share (ids, pages, timestamps, the error envelope),
 * in zod: requests are parsed with them at the edge, and the OpenAPI document (src/api/openapi.ts) is generated from
 * them. Schemas registered in `apiComponents` become `#/components/schemas/<id>`.
 */
export const apiComponents = z.registry<{ id: string; description?: string }>();

const PAGE_LIMIT_MAX = 200;
const PAGE_LIMIT_DEFAULT = 50;

/** The host product's id for a user: 1 to 255 printable characters, used as given (case-sensitive). */
export const ownerIdSchema = z
  .string()
  .min(1)
  .max(255)
  .refine((value) => !hasControlCharacters(value), { message: 'must not contain control characters' })
  .meta({ description: "The host product's id for the user who owns mailboxes (1 to 255 characters)." });

/** Our ids are `<prefix>_<26 lower-case base32>`; anything else cannot name a row, so it is rejected as invalid. */
export const idSchema = (prefix: string, what: string) =>
  z
    .string()
    .regex(new RegExp(`^${prefix}_[0-9a-z]{26}$`), { message: `must be ${what} id (${prefix}_…)` })
    .meta({ description: `${what[0]?.toUpperCase()}${what.slice(1)} id, \`${prefix}_…\`.` });

export const accountIdSchema = idSchema('acc', 'an account');

export const cursorSchema = (what: string) =>
  z
    .string()
    .min(1)
    .max(64)
    .regex(/^[0-9a-z_]+$/, { message: 'must be a nextCursor value from a previous page' })
    .meta({ description: `Return ${what} after this cursor: the \`nextCursor\` of the previous page.` });

export const limitSchema = z.coerce
  .number()
  .int()
  .min(1)
  .max(PAGE_LIMIT_MAX)
  .default(PAGE_LIMIT_DEFAULT)
  .meta({ description: `Page size, 1 to ${PAGE_LIMIT_MAX} (default ${PAGE_LIMIT_DEFAULT}).` });

export const timestamp = z.iso.datetime().meta({ description: 'ISO 8601, UTC.' });

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

export const errorSchema = z
  .object({
    error: z.object({
      code: z.string().meta({ description: 'Stable, UPPER_SNAKE; branch on it (the message may change).' }),
      message: z.string().meta({ description: 'What went wrong and what to fix, for a developer.' }),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .register(apiComponents, { id: 'Error', description: 'Every error answer of the API.' });

export const accountParams = z.strictObject({ id: accountIdSchema });

export const ownerParams = z.strictObject({ ownerId: ownerIdSchema });

/** C0 controls and DEL (a regex literal for them trips Biome's noControlCharactersInRegex). */
export function hasControlCharacters(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code <= 0x1f || code === 0x7f) return true;
  }
  return false;
}
