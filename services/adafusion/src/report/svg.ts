/**
 * Dependency-free SVG renderers for the AdaFusion report: contribution of each model by
 * phenotype (grouped bars) and a slide's dominance map (one square per tile, coloured by the
 * winning model). Output is a standalone SVG 1.1 document string; every user-supplied text
 * (model, phenotype, slide names) is escaped.
 */
import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';
import { layoutTiles, winnerStrength } from './tile-layout.js';

/**
 * Okabe–Ito colour-blind-safe palette (black left out: it is the axis colour), then Tableau's
 * remaining hues; past that, colours are spread around the hue circle.
 */
const PALETTE = ['#E69F00', '#56B4E9', '#009E73', '#F0E442', '#0072B2', '#D55E00', '#CC79A7', '#999999', '#8C564B', '#17BECF'];

/** Colour of model m (stable across plots, so a model has one colour in the whole report). */
export function modelColour(m: number): string {
  const c = PALETTE[m];
  if (c !== undefined) return c;
  const hue = Math.round((m * 137.508) % 360); // golden-angle steps keep neighbours apart
  return `hsl(${hue},65%,50%)`;
}

/** Text or attribute value safe inside XML: the five special characters as entities, XML-illegal control characters replaced. */
export function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** A coordinate rounded to 0.01 px: enough for any screen, keeps big maps small. */
function px(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function svgOpen(width: number, height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${px(width)}" height="${px(height)}" viewBox="0 0 ${px(width)} ${px(height)}" role="img" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${px(width)}" height="${px(height)}" fill="#ffffff"/>`,
  ];
}

function legend(lines: string[], modelNames: readonly string[], x: number, y: number): void {
  lines.push(`<g class="legend" transform="translate(${px(x)},${px(y)})">`);
  modelNames.forEach((name, m) => {
    const ly = m * 20;
    lines.push(`<rect class="legend-swatch" x="0" y="${ly}" width="12" height="12" fill="${modelColour(m)}"/>`);
    lines.push(`<text x="18" y="${ly + 10}">${escapeXml(name)}</text>`);
  });
  lines.push('</g>');
}

function checkNames(names: readonly string[], field: string): void {
  if (names.length === 0) throw invalidInput(field, `${field} must name at least one entry`);
}

export interface ContributionPlotOptions {
  title?: string;
  /** Plot width in px (default: grows with the number of bars, at least 480). */
  width?: number;
  /** Plot height in px (default 360). */
  height?: number;
}

/**
 * Grouped bar chart: for each phenotype (x groups) the mean gate weight of each model (bars),
 * from a P × M row-major matrix. A phenotype without tiles (NaN row) shows "no tiles".
 */
export function contributionByPhenotypeSvg(
  perPhenotypeAlpha: ArrayLike<number>,
  modelNames: readonly string[],
  phenotypeNames: readonly string[],
  options: ContributionPlotOptions = {},
): string {
  checkNames(modelNames, 'modelNames');
  checkNames(phenotypeNames, 'phenotypeNames');
  const M = modelNames.length;
  const P = phenotypeNames.length;
  if (perPhenotypeAlpha.length !== P * M) {
    throw new WeightsmithError(
      ErrorCode.ShapeMismatch,
      `perPhenotypeAlpha has ${perPhenotypeAlpha.length} values, expected ${P} phenotypes × ${M} models = ${P * M}`,
      { field: 'perPhenotypeAlpha' },
    );
  }
  let max = 0;
  for (let i = 0; i < perPhenotypeAlpha.length; i++) {
    const v = perPhenotypeAlpha[i]!;
    if (Number.isNaN(v)) continue;
    if (!Number.isFinite(v) || v < 0) {
      throw invalidInput('perPhenotypeAlpha', `perPhenotypeAlpha[${i}] is ${v}; gate weights are finite and non-negative`);
    }
    max = Math.max(max, v);
  }
  // Gate weights are softmax outputs: the natural axis is 0..1; only exceed it if the data do.
  const yMax = max <= 1 ? 1 : Math.ceil(max * 4) / 4;

  const barWidth = 18;
  const groupGap = 24;
  const groupWidth = M * barWidth + groupGap;
  const margin = { left: 64, right: 24 + 160, top: 40, bottom: 72 };
  const plotW = Math.max(480 - margin.left - margin.right, P * groupWidth);
  const width = options.width ?? margin.left + plotW + margin.right;
  const height = options.height ?? 360;
  const plotH = height - margin.top - margin.bottom;
  if (!(plotH > 0) || !(width > margin.left + margin.right)) {
    throw invalidInput('height', `plot size ${width}×${height} is too small to draw in`);
  }
  const innerW = width - margin.left - margin.right;
  const scaleX = innerW / (P * groupWidth);
  const y = (v: number): number => margin.top + plotH * (1 - v / yMax);

  const title = options.title ?? 'Model contribution by phenotype';
  const lines = svgOpen(width, height, title);
  lines.push(`<text x="${px(width / 2)}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`);

  // y axis with 5 ticks and light grid lines.
  lines.push('<g class="y-axis">');
  for (let k = 0; k <= 4; k++) {
    const v = (yMax * k) / 4;
    const yy = y(v);
    lines.push(`<line x1="${margin.left}" y1="${px(yy)}" x2="${px(margin.left + innerW)}" y2="${px(yy)}" stroke="#e0e0e0"/>`);
    lines.push(`<text x="${margin.left - 6}" y="${px(yy + 4)}" text-anchor="end">${v.toFixed(2)}</text>`);
  }
  lines.push(`<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${px(margin.top + plotH)}" stroke="#000000"/>`);
  lines.push(
    `<text transform="translate(16,${px(margin.top + plotH / 2)}) rotate(-90)" text-anchor="middle">mean gate weight α</text>`,
  );
  lines.push('</g>');

  lines.push('<g class="bars">');
  for (let p = 0; p < P; p++) {
    const gx = margin.left + (p * groupWidth + groupGap / 2) * scaleX;
    if (Number.isNaN(perPhenotypeAlpha[p * M]!)) {
      lines.push(`<text x="${px(gx + (M * barWidth * scaleX) / 2)}" y="${px(y(0) - 6)}" text-anchor="middle" fill="#777777">no tiles</text>`);
      continue;
    }
    for (let m = 0; m < M; m++) {
      const v = perPhenotypeAlpha[p * M + m]!;
      const top = y(v);
      const label = `${phenotypeNames[p]!} · ${modelNames[m]!}: ${v.toFixed(3)}`;
      lines.push(
        `<rect class="bar" x="${px(gx + m * barWidth * scaleX)}" y="${px(top)}" width="${px(barWidth * scaleX)}" height="${px(y(0) - top)}" fill="${modelColour(m)}"><title>${escapeXml(label)}</title></rect>`,
      );
    }
  }
  lines.push('</g>');

  // x axis: phenotype names under their groups, slanted so long names fit.
  lines.push('<g class="x-axis">');
  lines.push(`<line x1="${margin.left}" y1="${px(y(0))}" x2="${px(margin.left + innerW)}" y2="${px(y(0))}" stroke="#000000"/>`);
  for (let p = 0; p < P; p++) {
    const cx = margin.left + (p * groupWidth + groupWidth / 2) * scaleX;
    lines.push(
      `<text transform="translate(${px(cx)},${px(y(0) + 14)}) rotate(-20)" text-anchor="end">${escapeXml(phenotypeNames[p]!)}</text>`,
    );
  }
  lines.push(`<text x="${px(margin.left + innerW / 2)}" y="${height - 8}" text-anchor="middle">phenotype</text>`);
  lines.push('</g>');

  legend(lines, modelNames, width - margin.right + 16, margin.top);
  lines.push('</svg>');
  return lines.join('\n');
}

export interface DominanceMapOptions {
  /**
   * Per tile, the winning model's gate weight (in [1/M, 1]): drawn as opacity, so tiles where
   * the models nearly tie fade out. Without it every tile is opaque.
   */
  alpha?: ArrayLike<number>;
  /** Side of the square the map is scaled to fit, px (default 800). */
  size?: number;
  /** Tile side in the coordinates' units (default: the smallest gap between distinct x or y values). */
  tileSize?: number;
  title?: string;
}

/**
 * One square per tile at its coordinates (x right, y down, as in the slide image), coloured by
 * the model that dominates it, with a legend; scaled to fit `size` px.
 */
export function dominanceMapSvg(
  coords: ArrayLike<number>,
  dominantModel: ArrayLike<number>,
  modelNames: readonly string[],
  options: DominanceMapOptions = {},
): string {
  checkNames(modelNames, 'modelNames');
  const M = modelNames.length;
  const { n, minX, minY, spanX, spanY, tile } = layoutTiles(coords, dominantModel, M, options);
  const size = options.size ?? 800;
  if (!(size >= 16)) throw invalidInput('size', `size must be at least 16 px, got ${size}`);

  const scale = size / Math.max(spanX, spanY);
  const top = 32;
  const pad = 8;
  const mapW = spanX * scale;
  const mapH = spanY * scale;
  const legendW = 180;
  const width = pad + mapW + pad + legendW;
  const height = Math.max(top + mapH + pad, top + M * 20 + pad);
  const title = options.title ?? 'Dominance map';
  const lines = svgOpen(width, height, title);
  lines.push(`<text x="${pad}" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`);
  lines.push(`<g class="tiles" transform="translate(${pad},${top})" shape-rendering="crispEdges">`);
  const side = px(tile * scale);
  for (let t = 0; t < n; t++) {
    const m = dominantModel[t]!;
    let opacity = '';
    if (options.alpha !== undefined && M > 1) opacity = ` fill-opacity="${winnerStrength(options.alpha[t]!, M).toFixed(3)}"`;
    lines.push(
      `<rect class="tile" x="${px((coords[2 * t]! - minX) * scale)}" y="${px((coords[2 * t + 1]! - minY) * scale)}" width="${side}" height="${side}" fill="${modelColour(m)}"${opacity}/>`,
    );
  }
  lines.push('</g>');
  legend(lines, modelNames, pad + mapW + pad + 8, top);
  lines.push('</svg>');
  return lines.join('\n');
}
