/**
 * The emulator's clock: real time plus an offset that tests and the control API can advance, so that
 * token lifetimes, code expiry, sending windows and 90 days of inactivity pass in a millisecond.
 */
export class EmulatorClock {
  #offsetMs = 0;
  #frozenAt: number | null = null;

  constructor(options: { startAt?: number; frozen?: boolean } = {}) {
    if (options.startAt !== undefined) this.#offsetMs = options.startAt - Date.now();
    if (options.frozen) this.#frozenAt = options.startAt ?? Date.now();
  }

  /** Milliseconds since the epoch, as the emulator sees it. */
  now(): number {
    return this.#frozenAt ?? Date.now() + this.#offsetMs;
  }

  nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  date(): Date {
    return new Date(this.now());
  }

  advance(seconds: number): void {
    if (this.#frozenAt !== null) this.#frozenAt += seconds * 1000;
    else this.#offsetMs += seconds * 1000;
  }

  /** Jumps to an absolute time (never used to go backwards by the control API; tests may). */
  set(epochMs: number): void {
    if (this.#frozenAt !== null) this.#frozenAt = epochMs;
    else this.#offsetMs = epochMs - Date.now();
  }

  /** True when the clock only moves through `advance`/`set` (tests), false when it follows real time. */
  get frozen(): boolean {
    return this.#frozenAt !== null;
  }

  get offsetMs(): number {
    return this.#frozenAt === null ? this.#offsetMs : this.#frozenAt - Date.now();
  }
}
