import { EmulatorClock } from '../../../emulator/clock.js';

/**
 * One clock for the emulator and the service that runs `rate` times faster than real time (from the moment the
 * rate is set), so that Microsoft's per-minute sending limit can be tested with Microsoft's numbers in seconds: both
 * sides count their windows on this clock, as both would count on real time in production.
 */
export class AcceleratedClock extends EmulatorClock {
  #baseClock: number;
  #baseReal: number;
  #rate = 1;

  constructor(startAt: number) {
    super({ startAt });
    this.#baseClock = startAt;
    this.#baseReal = Date.now();
  }

  get rate(): number {
    return this.#rate;
  }

  /** From now on, one real millisecond is `rate` clock milliseconds (time never jumps when the rate changes). */
  setRate(rate: number): void {
    const now = this.now();
    this.#baseClock = now;
    this.#baseReal = Date.now();
    this.#rate = rate;
  }

  override now(): number {
    return Math.floor(this.#baseClock + (Date.now() - this.#baseReal) * this.#rate);
  }

  override advance(seconds: number): void {
    this.#baseClock += seconds * 1000;
  }

  override set(epochMs: number): void {
    this.#baseClock = epochMs;
    this.#baseReal = Date.now();
  }

  override get frozen(): boolean {
    return false;
  }

  override get offsetMs(): number {
    return this.now() - Date.now();
  }
}
