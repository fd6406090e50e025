import { describe, expect, it } from 'vitest';
import { csvCell, fixed3, markdownTable } from '../../src/common/table.js';

describe('text output of results', () => {
  it('fixed3 writes three decimals and a dash for missing or non-finite values', () => {
    expect(fixed3(0.12345)).toBe('0.123');
    expect(fixed3(-0.0456)).toBe('-0.046');
    expect(fixed3(null)).toBe('–');
    expect(fixed3(undefined)).toBe('–');
    expect(fixed3(Number.NaN)).toBe('–');
    expect(fixed3(Number.POSITIVE_INFINITY)).toBe('–');
  });

  it('markdownTable pads columns and escapes a pipe; csvCell quotes commas', () => {
    expect(markdownTable(['a', 'bb'], [['x|y', '1']])).toBe('| a    | bb |\n|------|----|\n| x\\|y | 1  |');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell(Number.NaN)).toBe('');
  });
});
