import { cpus, loadavg, totalmem } from 'node:os';

/**
 * What every benchmark prints around its figures: the machine (CPU model, cores, memory, Node), how busy it was, and
 * the results as a Markdown table aligned the way Biome formats Markdown (text columns left, numbers right), ready
 * to paste into the README.
 */

export function machineLine(): string {
  const cpu = cpus();
  return `machine: ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`;
}

export function loadLine(when: 'start' | 'end'): string {
  return `load average at ${when}: ${loadavg()[0]!.toFixed(2)} (1 min)`;
}

/** `value` with `digits` decimals, or – when it is not a number. */
export function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

/** Columns whose index is in `textColumns` are left-aligned; the others are numbers, right-aligned. */
export function markdownTable(header: string[], rows: string[][], textColumns: readonly number[] = [0]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const isText = (column: number) => textColumns.includes(column);
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => (isText(column) ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join(' | ')} |`;
  const rule = `| ${widths.map((width, column) => (isText(column) ? '-'.repeat(width) : `${'-'.repeat(width - 1)}:`)).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** The `p`-quantile (0..1) of ascending values, nearest rank. */
export function quantile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank]!;
}

/** Collects problems (a figure the run cannot vouch for); printed at the end, and the exit code says so. */
export class Problems {
  readonly #items: string[] = [];

  add(problem: string): void {
    this.#items.push(problem);
  }

  get count(): number {
    return this.#items.length;
  }

  print(): void {
    if (this.#items.length === 0) return;
    console.log('');
    for (const problem of this.#items) console.log(`PROBLEM ${problem}`);
    process.exitCode = 1;
  }
}

/**
 * Runs a benchmark's `main` and ends the process when it is done, with `process.exitCode` (1 after a problem or a
 * throw). Everything a benchmark starts is stopped by `main` itself; the explicit exit is for what it does not own:
 * tsx's esbuild service child (`esbuild --service --ping`) was seen holding two pipes open after the last line of
 * bench/refresh-storm.ts, leaving a finished run waiting forever.
 */
export async function runBenchmark(main: () => Promise<void>): Promise<never> {
  try {
    await main();
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  }
  process.exit();
}
