import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/**
 * What one module tells others inside its own transaction without importing them (ARCHITECTURE.md):
 * the owner of a state change calls `emit(trx, change)` in the transaction that made it; the modules that react
 * (the outbox releasing held messages when an account recovers) register a listener at composition
 * (src/compose.ts). Listeners run in registration order, in the caller's transaction: what they write commits or
 * rolls back with the change itself, and one that throws aborts it.
 */
export class Listeners<Change> {
  readonly #listeners: Array<(trx: Kysely<Database>, change: Change) => Promise<void>> = [];

  add(listener: (trx: Kysely<Database>, change: Change) => Promise<void>): void {
    this.#listeners.push(listener);
  }

  async emit(trx: Kysely<Database>, change: Change): Promise<void> {
    for (const listener of this.#listeners) await listener(trx, change);
  }
}
