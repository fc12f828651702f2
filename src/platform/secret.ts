import { timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * A secret value (client secret, password, key material, a token) that cannot leak by accident: every way an
 * object turns into text (`String()`, template literals, `JSON.stringify`, pino, `util.inspect`, `console.log`)
 * prints `[redacted]`. The only way to the value is `reveal()`, so every use is greppable.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret itself. Call it at the last moment, where the value leaves for its one legitimate use. */
  reveal(): string {
    return this.#value;
  }

  /** Constant-time comparison with another secret or a candidate string. */
  equals(other: Secret | string): boolean {
    const a = Buffer.from(this.#value);
    const b = Buffer.from(typeof other === 'string' ? other : other.reveal());
    if (a.length !== b.length) return false;
    return timingSafeEqual(a, b);
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
