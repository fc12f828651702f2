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
  readonly #listeners: Array<{
    listener: (trx: Kysely<Database>, change: Change) => Promise<void>;
    when: ((change: Change) => boolean) | undefined;
  }> = [];

  /**
   * `when`: the changes the listener acts on (it is not called for others). A listener that says so lets the owner
   * of a change learn that nobody will write with it (`anyActsOn`), and record it without a transaction of its own.
   */
  add(
    listener: (trx: Kysely<Database>, change: Change) => Promise<void>,
    options: { when?: (change: Change) => boolean } = {},
  ): void {
    this.#listeners.push({ listener, when: options.when });
  }

  /** Whether any listener acts on `change` (one registered without `when` acts on every change). */
  anyActsOn(change: Change): boolean {
    return this.#listeners.some(({ when }) => when === undefined || when(change));
  }

  async emit(trx: Kysely<Database>, change: Change): Promise<void> {
    for (const { listener, when } of this.#listeners) {
      if (when === undefined || when(change)) await listener(trx, change);
    }
  }
}
