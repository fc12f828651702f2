/** Time as the service sees it. Injected everywhere so tests can move it; `systemClock` in production. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  #now: number;

  constructor(start = Date.now()) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  advance(ms: number): void {
    this.#now += ms;
  }

  set(epochMs: number): void {
    this.#now = epochMs;
  }
}

/** An epoch-milliseconds column as ISO 8601 UTC (`Number` because PostgreSQL's bigint may arrive as a string). */
export function isoTime(epochMs: number): string {
  return new Date(Number(epochMs)).toISOString();
}

export function isoTimeOrNull(epochMs: number | null): string | null {
  return epochMs === null ? null : isoTime(epochMs);
}
