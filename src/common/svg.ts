/**
 * Hand-written SVG line charts for the reports (the uncertainty report, the study's figures; no
 * chart library): linear or categorical axes with "nice" ticks, polylines or markers, error bars,
 * shaded bands, horizontal reference lines, a legend on the right.
 * Output is standalone SVG (xmlns, width/height, white background) so that the same string both
 * inlines into HTML and rasterizes with sharp/librsvg.
 */

export type Point = readonly [x: number, y: number];

export interface Series {
  label: string;
  color: string;
  /** Points with a non-finite y break the line there. */
  points: readonly Point[];
  dash?: string;
  width?: number;
  /** Markers without a connecting line (scatter plots, categorical x). */
  markersOnly?: boolean;
  /** Half-length of a vertical error bar at each point (same order as points). */
  errors?: readonly number[];
}

export interface Band {
  label: string;
  color: string;
  /** x, lower y, upper y; non-finite entries are skipped. */
  points: readonly (readonly [x: number, lower: number, upper: number])[];
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  bands?: readonly Band[];
  /** Fixed y range (otherwise fitted to the data). */
  yDomain?: readonly [number, number];
  /** Horizontal reference lines (e.g. y = 0). */
  hLines?: readonly number[];
  /** Only integer x ticks (epochs). */
  integerX?: boolean;
  /** Categorical x axis: these ticks and labels instead of numeric ones (x = 0, 1, … per category). */
  xCategories?: readonly string[];
  width?: number;
  height?: number;
}

export const escapeXml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 × 10^k). */
export function niceTicks(lo: number, hi: number, count = 5, integer = false): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  if (integer) step = Math.max(1, Math.round(step));
  const first = Math.ceil(lo / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = first; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return ticks;
}

/** Tick label: fixed decimals matched to the step, exponent notation for very small/large values. */
export function formatTick(v: number, step: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e6) return v.toExponential(Math.max(0, Math.min(3, Math.ceil(Math.log10(a / step) - 1e-9))));
  const decimals = Math.max(0, Math.min(8, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

function extent(values: number[], pad: number): [number, number] {
  const f = values.filter(Number.isFinite);
  if (f.length === 0) return [0, 1];
  let lo = Math.min(...f);
  let hi = Math.max(...f);
  if (hi === lo) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo - d, hi + d];
  }
  const d = (hi - lo) * pad;
  lo -= d;
  hi += d;
  return [lo, hi];
}

const f2 = (v: number): string => (Math.round(v * 100) / 100).toString();

export function lineChart(spec: ChartSpec): string {
  const W = spec.width ?? 760;
  const H = spec.height ?? 380;
  const legendW = 190;
  const m = { left: 72, right: legendW + 16, top: 40, bottom: 52 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const bands = spec.bands ?? [];
  const xs = [
    ...spec.series.flatMap((s) => s.points.map((p) => p[0])),
    ...bands.flatMap((b) => b.points.map((p) => p[0])),
  ];
  const ys = [
    ...spec.series.flatMap((s) => s.points.map((p) => p[1])),
    ...bands.flatMap((b) => b.points.flatMap((p) => [p[1], p[2]])),
    ...(spec.hLines ?? []),
  ];
  const cats = spec.xCategories;
  let [x0, x1] = cats ? [-0.5, cats.length - 0.5] : extent(xs, 0);
  if (!cats && spec.integerX && x1 - x0 < 2) [x0, x1] = [Math.floor(x0) - 1, Math.ceil(x1) + 1];
  const errorYs = spec.series.flatMap((s) =>
    (s.errors ?? []).flatMap((e, i) => (s.points[i] ? [s.points[i]![1] - e, s.points[i]![1] + e] : [])),
  );
  ys.push(...errorYs);
  const [y0, y1] = spec.yDomain ? [spec.yDomain[0], spec.yDomain[1]] : extent(ys, 0.06);
  const sx = (x: number): number => m.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number): number => m.top + ph - ((y - y0) / (y1 - y0)) * ph;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`,
  );
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${m.left}" y="24" font-size="15" font-weight="bold" fill="#222">${escapeXml(spec.title)}</text>`);
  // Grid and ticks.
  const yt = niceTicks(y0, y1, 5);
  const ystep = yt.length > 1 ? yt[1]! - yt[0]! : Math.abs(y1 - y0) || 1;
  for (const v of yt) {
    const y = f2(sy(v));
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#e4e4e4"/>`);
    out.push(
      `<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#444">${escapeXml(formatTick(v, ystep))}</text>`,
    );
  }
  const xt = cats ? cats.map((_, i) => i) : niceTicks(x0, x1, 8, spec.integerX);
  const xstep = xt.length > 1 ? xt[1]! - xt[0]! : 1;
  for (const v of xt) {
    const x = f2(sx(v));
    out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#f0f0f0"/>`);
    out.push(
      `<text x="${x}" y="${m.top + ph + 18}" text-anchor="middle" fill="#444"${cats ? ' font-size="11"' : ''}>${escapeXml(cats ? cats[v]! : formatTick(v, xstep))}</text>`,
    );
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  out.push(
    `<text x="${m.left + pw / 2}" y="${H - 10}" text-anchor="middle" fill="#222">${escapeXml(spec.xLabel)}</text>`,
  );
  out.push(
    `<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#222">${escapeXml(spec.yLabel)}</text>`,
  );
  for (const h of spec.hLines ?? []) {
    if (h < y0 || h > y1) continue;
    out.push(
      `<line x1="${m.left}" y1="${f2(sy(h))}" x2="${m.left + pw}" y2="${f2(sy(h))}" stroke="#555" stroke-dasharray="4 3"/>`,
    );
  }
  // Bands: one polygon per run of finite points (upper edge forward, lower edge back).
  for (const b of bands) {
    for (const run of runs(b.points, (p) => Number.isFinite(p[1]) && Number.isFinite(p[2]))) {
      const pts = [
        ...run.map((p) => `${f2(sx(p[0]))},${f2(sy(p[2]))}`),
        ...[...run].reverse().map((p) => `${f2(sx(p[0]))},${f2(sy(p[1]))}`),
      ];
      if (run.length === 1) {
        const p = run[0]!;
        out.push(
          `<rect x="${f2(sx(p[0]) - 4)}" y="${f2(sy(p[2]))}" width="8" height="${f2(Math.max(1, sy(p[1]) - sy(p[2])))}" fill="${b.color}" fill-opacity="0.35"/>`,
        );
      } else {
        out.push(`<polygon points="${pts.join(' ')}" fill="${b.color}" fill-opacity="0.35" stroke="none"/>`);
      }
    }
  }
  // Series: polylines per finite run, plus markers.
  for (const s of spec.series) {
    const w = s.width ?? 2;
    s.errors?.forEach((e, i) => {
      const p = s.points[i];
      if (!p || !Number.isFinite(e) || !Number.isFinite(p[1])) return;
      const x = f2(sx(p[0]));
      out.push(
        `<line x1="${x}" y1="${f2(sy(p[1] - e))}" x2="${x}" y2="${f2(sy(p[1] + e))}" stroke="${s.color}" stroke-width="1.5"/>`,
      );
    });
    for (const run of runs(s.points, (p) => Number.isFinite(p[1]) && Number.isFinite(p[0]))) {
      if (run.length > 1 && !s.markersOnly) {
        out.push(
          `<polyline points="${run.map((p) => `${f2(sx(p[0]))},${f2(sy(p[1]))}`).join(' ')}" fill="none" stroke="${s.color}" stroke-width="${w}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} stroke-linejoin="round"/>`,
        );
      }
      for (const p of run)
        out.push(`<circle cx="${f2(sx(p[0]))}" cy="${f2(sy(p[1]))}" r="${w + 1}" fill="${s.color}"/>`);
    }
  }
  // Legend.
  const lx = W - legendW;
  let ly = m.top + 6;
  const entry = (label: string, swatch: string): void => {
    out.push(swatch.replace(/\{x\}/g, String(lx)).replace(/\{y\}/g, String(ly)));
    out.push(
      `<text x="${lx + 26}" y="${ly}" dominant-baseline="middle" fill="#222">${escapeXml(label.length > 24 ? `${label.slice(0, 23)}…` : label)}</text>`,
    );
    ly += 18;
  };
  for (const b of bands)
    entry(b.label, `<rect x="{x}" y="${ly - 6}" width="20" height="12" fill="${b.color}" fill-opacity="0.35"/>`);
  for (const s of spec.series)
    entry(
      s.label,
      s.markersOnly
        ? `<circle cx="${lx + 10}" cy="{y}" r="${(s.width ?? 2) + 1}" fill="${s.color}"/>`
        : `<line x1="{x}" y1="{y}" x2="${lx + 20}" y2="{y}" stroke="${s.color}" stroke-width="${s.width ?? 2}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
    );
  out.push('</svg>');
  return out.join('\n');
}

/** Maximal runs of consecutive items passing `ok`. */
function runs<T>(items: readonly T[], ok: (t: T) => boolean): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  for (const it of items) {
    if (ok(it)) cur.push(it);
    else if (cur.length) {
      out.push(cur);
      cur = [];
    }
  }
  if (cur.length) out.push(cur);
  return out;
}
