/**
 * Text output of results: aligned plain-text tables (the bench, evaluate), padded Markdown tables
 * (the GPU check's report), CSV cells (trajectory.csv, per-image.csv) and the millisecond format of
 * timing tables. Strings in, strings out.
 */

/** Columns aligned with two spaces between them: the first left-aligned, the others right-aligned. */
export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** A Markdown table with cells padded to their column's width and `|` in a cell escaped. */
export function markdownTable(header: string[], rawRows: string[][]): string {
  const rows = rawRows.map((r) => r.map((c) => (c ?? '').replace(/\|/g, '\\|')));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (c ?? '').padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/**
 * One CSV cell, RFC 4180 quoting: strings with commas, quotes or newlines are quoted, quotes
 * doubled; non-finite numbers are empty cells.
 */
export const csvCell = (v: string | number): string => {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
};

/** Milliseconds for a timing table: no decimals from 100, one from 10, else two. */
export const formatMs = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

/** A reported value with three decimals; '–' for a missing or non-finite one. */
export const fixed3 = (v: number | null | undefined): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(3);
