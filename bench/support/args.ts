/** Command-line values of the benchmarks (`parseArgs` hands them over as strings). */

/** An integer option of at least `min` (default 1), or a clear error naming the option. */
export function integerArg(name: string, raw: string | undefined, min = 1): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer of at least ${min}`);
  return value;
}

/** The configurations named in a comma-separated `--configs` value, in that order. */
export function chosenConfigs<Config extends { key: string }>(
  raw: string | undefined,
  all: readonly Config[],
): Config[] {
  return (raw ?? '').split(',').map((key) => {
    const config = all.find((candidate) => candidate.key === key.trim());
    if (!config) throw new Error(`--configs: unknown "${key}" (use ${all.map((each) => each.key).join(',')})`);
    return config;
  });
}
