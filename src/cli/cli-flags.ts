import { AppError } from '../errors/app-error.js';
import type { ErrorTable } from '../errors/error-table.js';
import { parseIsoDateTime } from '../platform/iso-date-time.js';

/** The command line's codes (src/errors/error-table.ts); the status is what the code would answer over HTTP. */
export const CLI_ERRORS = {
  CLI_ARGUMENT_UNKNOWN: { status: 400, description: 'An argument the command does not know; the usage follows.' },
  CLI_ARGUMENT_MISSING: { status: 400, description: 'A required argument, or the value of a flag, is missing.' },
  CLI_ARGUMENT_INVALID: {
    status: 400,
    description: "A flag's value is not what the command accepts; the usage follows.",
  },
  CLI_ORGANIZATION_NOT_FOUND: { status: 404, description: 'No organisation has this name.' },
  CLI_ORGANIZATION_AMBIGUOUS: {
    status: 409,
    description: 'Several organisations have this name; the message lists their ids.',
  },
} as const satisfies ErrorTable;

export interface CliFlagSpec {
  /** Printed after every argument error. */
  usage: string;
  /** Flags that take a value (`--org X` or `--org=X`); each may repeat. */
  values: readonly string[];
  /** Flags without a value (`--admin`). */
  switches?: readonly string[];
}

export interface CliFlags {
  all(flag: string): string[];
  /** The last value given for the flag (a later one overrides an earlier one). */
  last(flag: string): string | undefined;
  has(flag: string): boolean;
}

/** Parses `--flag value`, `--flag=value` and bare switches; anything else is a usage error (exit code 2). */
export function parseCliFlagsOrThrow(args: readonly string[], spec: CliFlagSpec): CliFlags {
  const values = new Map<string, string[]>();
  const switches = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (spec.switches?.includes(flag) && flag === arg) {
      switches.add(flag);
      continue;
    }
    if (!spec.values.includes(flag)) {
      throw new AppError('CLI_ARGUMENT_UNKNOWN', `unknown argument "${arg}"\n${spec.usage}`, { status: 400 });
    }
    const value = flag !== arg ? arg.slice(eq + 1) : args[++i];
    if (value === undefined || value === '') {
      throw new AppError('CLI_ARGUMENT_MISSING', `${flag} needs a value\n${spec.usage}`, { status: 400 });
    }
    values.set(flag, [...(values.get(flag) ?? []), value]);
  }
  return {
    all: (flag) => values.get(flag) ?? [],
    last: (flag) => values.get(flag)?.at(-1),
    has: (flag) => switches.has(flag),
  };
}

/** An ISO 8601 date-time with a zone (`2027-01-31T00:00:00Z`) that exists, as epoch milliseconds. */
export function parseCliDateTimeOrThrow(flag: string, value: string, usage: string): number {
  const parsed = parseIsoDateTime(value, { timeRequired: true });
  if (parsed.ok) return parsed.time;
  const why =
    parsed.kind === 'shape'
      ? 'must be an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z'
      : `is impossible: ${parsed.why}`;
  throw new AppError('CLI_ARGUMENT_INVALID', `${flag} ${why}\n${usage}`, { status: 400 });
}
