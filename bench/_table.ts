/** Helpers the benchmarks share to print Markdown tables of numbers. */

/** A Markdown table: the header row, its rule, then one row per line. */
export function markdown(
  header: readonly string[],
  body: ReadonlyArray<readonly string[]>,
): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...body.map(line)].join('\n');
}

/** `x` to `digits` decimals, as a number (NaN stays NaN, for JSON output). */
export const round = (x: number, digits: number): number =>
  Number.isFinite(x) ? Number(x.toFixed(digits)) : NaN;
