/**
 * One module's error codes: each with the HTTP status an answer carries when the error reaches an edge, and one
 * sentence saying what it means and what to do. Every module that throws declares its table next to its errors
 * (src/api/api-errors.ts, src/outbox/outbox-errors.ts, src/tokens/token-error.ts, …); src/api/error-registry.ts
 * assembles them into the one registry the OpenAPI document lists, and test/errors/error-registry.test.ts fails on a
 * code thrown but not registered, or registered but never thrown.
 */
export type ErrorTable = Readonly<Record<string, { readonly status: number; readonly description: string }>>;

/** The tables merged into one; a code declared by two modules is a bug, refused here. */
export function mergeErrorTables(...tables: readonly ErrorTable[]): ErrorTable {
  const merged: Record<string, { status: number; description: string }> = {};
  for (const table of tables) {
    for (const [code, entry] of Object.entries(table)) {
      if (code in merged) throw new Error(`error code ${code} is declared twice`);
      merged[code] = entry;
    }
  }
  return merged;
}
