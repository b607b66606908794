/**
 * Shared geometry of dominance-map renderers (SVG and PNG): input checks, the tiles' bounding
 * box, the tile side, and how a near-tie fades a tile.
 */
import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';

export interface TileLayout {
  n: number;
  minX: number;
  minY: number;
  /** Width and height of the tiled area in coordinate units (last tile included). */
  spanX: number;
  spanY: number;
  /** Tile side in coordinate units. */
  tile: number;
}

/** Smallest positive difference between sorted distinct values of one coordinate axis. */
function smallestGap(coords: ArrayLike<number>, n: number, axis: 0 | 1): number {
  const values = new Float64Array(n);
  for (let t = 0; t < n; t++) values[t] = coords[2 * t + axis]!;
  values.sort();
  let gap = Number.POSITIVE_INFINITY;
  for (let t = 1; t < n; t++) {
    const d = values[t]! - values[t - 1]!;
    if (d > 0 && d < gap) gap = d;
  }
  return gap;
}

/**
 * Checks a dominance map's inputs and lays its tiles out. The tile side defaults to the grid
 * step (smallest gap between distinct x or y values), since tile features come from a regular
 * grid of patches; a lone tile gets side 1.
 */
export function layoutTiles(
  coords: ArrayLike<number>,
  dominantModel: ArrayLike<number>,
  numModels: number,
  options: { alpha?: ArrayLike<number>; tileSize?: number },
): TileLayout {
  if (numModels < 1) throw invalidInput('modelNames', 'modelNames must name at least one model');
  const n = dominantModel.length;
  if (n === 0) throw invalidInput('dominantModel', 'a dominance map needs at least one tile');
  if (coords.length !== 2 * n) {
    throw new WeightsmithError(ErrorCode.ShapeMismatch, `coords has ${coords.length} values, expected ${n} tiles × 2`, { field: 'coords' });
  }
  if (options.alpha !== undefined && options.alpha.length !== n) {
    throw new WeightsmithError(ErrorCode.ShapeMismatch, `alpha has ${options.alpha.length} values, expected one per tile (${n})`, {
      field: 'alpha',
    });
  }
  let minX = Number.POSITIVE_INFINITY;
  let minY = Number.POSITIVE_INFINITY;
  let maxX = Number.NEGATIVE_INFINITY;
  let maxY = Number.NEGATIVE_INFINITY;
  for (let t = 0; t < n; t++) {
    const x = coords[2 * t]!;
    const y = coords[2 * t + 1]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) throw invalidInput('coords', `coords of tile ${t} are (${x}, ${y}); they must be finite`);
    const m = dominantModel[t]!;
    if (!Number.isInteger(m) || m < 0 || m >= numModels) {
      throw invalidInput('dominantModel', `dominantModel[${t}] is ${m}, expected a model index in 0..${numModels - 1}`);
    }
    minX = Math.min(minX, x);
    minY = Math.min(minY, y);
    maxX = Math.max(maxX, x);
    maxY = Math.max(maxY, y);
  }
  let tile = options.tileSize ?? Math.min(smallestGap(coords, n, 0), smallestGap(coords, n, 1));
  if (options.tileSize === undefined && !Number.isFinite(tile)) tile = 1;
  if (!(tile > 0 && Number.isFinite(tile))) throw invalidInput('tileSize', `tileSize must be a positive number, got ${tile}`);
  return { n, minX, minY, spanX: maxX - minX + tile, spanY: maxY - minY + tile, tile };
}

/** Lowest opacity/colour strength, for a tile where all models tie. */
export const TIE_STRENGTH = 0.25;

/**
 * How strongly to draw a tile whose winning model has weight w among M: linear from
 * TIE_STRENGTH at a tie (w = 1/M) to 1 at certainty (w = 1).
 */
export function winnerStrength(w: number, numModels: number): number {
  if (numModels < 2) return 1;
  const u = Math.min(1, Math.max(0, (w - 1 / numModels) / (1 - 1 / numModels)));
  return TIE_STRENGTH + (1 - TIE_STRENGTH) * u;
}
