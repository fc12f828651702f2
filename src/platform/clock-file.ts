import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import type { Clock } from './clock.js';

/**
 * A clock several processes follow exactly: one file holds the time, written in place by the process that moves it
 * (a simulation driver moving an emulator's clock, test/support/warmup-simulation-processes.ts) and read by every
 * service process at each `now()` (one positioned read on a descriptor opened once, a few microseconds). A value
 * written is what every later `now()` of every process returns, so a driver that sets the time and then asks the
 * workers for the step's work knows the work runs at that time. Never production's clock: the configuration accepts
 * MAILBRIDGE_EMULATOR_CLOCK_FILE only with an emulator on this machine as Microsoft (src/config/load-config.ts).
 *
 * The record is the time twice, fixed width (`0001767225600000|0001767225600000\n`): one write of 34 bytes replaces it,
 * and a read that met a write half done sees two different halves and reads again.
 */

const DIGITS = 16;
const RECORD_BYTES = DIGITS * 2 + 2;

function record(epochMs: number): string {
  if (!Number.isSafeInteger(epochMs) || epochMs < 0) throw new Error(`clock file: ${epochMs} is not a time`);
  const digits = String(epochMs).padStart(DIGITS, '0');
  return `${digits}|${digits}\n`;
}

/** Writes the time into the file, replacing the record in place (the file is created on the first write). */
export function writeClockFile(path: string, epochMs: number): void {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    fd = openSync(path, 'wx');
  }
  try {
    writeSync(fd, record(epochMs), 0, 'latin1');
  } finally {
    closeSync(fd);
  }
}

/** A clock that reads the file at every `now()`; throws if the file does not hold a time (it must exist at start). */
export class FileClock implements Clock {
  readonly #path: string;
  readonly #fd: number;
  readonly #buffer = Buffer.alloc(RECORD_BYTES);

  constructor(path: string) {
    this.#path = path;
    this.#fd = openSync(path, 'r');
    this.now();
  }

  now(): number {
    for (let attempt = 0; attempt < 100; attempt++) {
      const read = readSync(this.#fd, this.#buffer, 0, RECORD_BYTES, 0);
      const text = this.#buffer.toString('latin1', 0, read);
      const first = text.slice(0, DIGITS);
      if (read === RECORD_BYTES && text[DIGITS] === '|' && text.slice(DIGITS + 1, DIGITS * 2 + 1) === first) {
        const value = Number(first);
        if (Number.isSafeInteger(value)) return value;
      }
    }
    throw new Error(`clock file ${this.#path} does not hold a time`);
  }

  close(): void {
    closeSync(this.#fd);
  }
}
