import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Clock } from '../platform/clock.js';
import type { EnqueueOptions, JobData, JobEngine, JobName } from './job-engine.js';

/**
 * The job engine of the embedded SQLite default: no external service, no job table. The in-process background loop
 * (src/worker/background-work.ts) polls what is due in the database every few seconds, so the due rows themselves
 * are the queue and nothing needs storing here; an enqueue that is due now only nudges the loop to run its next tick
 * at once instead of at the end of its interval. A nudge inside a transaction that then rolls back costs one tick
 * that finds nothing. On SQLite the loop's queries wait for the transaction (one connection), so the nudged tick sees
 * what it committed. Without a loop in this process (the `api` role) an enqueue does nothing: the process that runs
 * the loop finds the work on its next tick.
 */
export class InProcessJobEngine implements JobEngine {
  readonly kind = 'in-process';
  readonly #clock: Clock;
  readonly #listeners = new Set<(name: JobName) => void>();

  constructor(options: { clock: Clock }) {
    this.#clock = options.clock;
  }

  /** Registers the loop to nudge; returns the function that unregisters it. */
  onDue(listener: (name: JobName) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async enqueue(_db: Kysely<Database>, name: JobName, _data: JobData, options: EnqueueOptions = {}): Promise<void> {
    // Work due later is found by the loop's due-queries when its time comes.
    if (options.startAfter !== undefined && options.startAfter > this.#clock.now()) return;
    for (const listener of this.#listeners) listener(name);
  }

  async stop(): Promise<void> {
    this.#listeners.clear();
  }
}
