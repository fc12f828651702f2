import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors/app-error.js';
import { findOrganizationsByName, type Organization } from '../orgs/organizations.js';

/**
 * The organisation the CLI's `--org <name>` names, or undefined when none has that name. Names are not unique in
 * the database (organisations are created through the API too), so a name two organisations share is an error that
 * lists their ids rather than a guess.
 */
export async function findUniqueOrganizationByNameOrThrow(
  db: Kysely<Database>,
  name: string,
): Promise<Organization | undefined> {
  const found = await findOrganizationsByName(db, name);
  if (found.length > 1) {
    throw new AppError(
      'CLI_ORGANIZATION_AMBIGUOUS',
      `${found.length} organisations are named "${name}" (${found.map((org) => org.id).join(', ')}).`,
      { status: 409 },
    );
  }
  return found[0];
}
