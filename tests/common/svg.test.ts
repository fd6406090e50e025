import { describe, expect, it } from 'vitest';
import { lineChart } from '../../src/common/svg.js';

describe('lineChart', () => {
  it('charts: categorical x labels, error bars and marker-only series', () => {
    const svg = lineChart({
      title: 't',
      xLabel: 'configuration',
      yLabel: 'Dice',
      xCategories: ['dice', 'adaptive-up'],
      series: [
        {
          label: 'mean',
          color: '#123456',
          markersOnly: true,
          points: [
            [0, 0.5],
            [1, 0.7],
          ],
          errors: [0.1, 0.05],
        },
      ],
    });
    expect(svg).toContain('>dice</text>');
    expect(svg).toContain('>adaptive-up</text>');
    expect(svg).not.toContain('<polyline');
    expect(svg.match(/<circle [^>]*fill="#123456"/g)).toHaveLength(3); // two points + the legend swatch
    expect(svg.match(/<line [^>]*stroke="#123456" stroke-width="1.5"/g)).toHaveLength(2); // the error bars
  });
});
