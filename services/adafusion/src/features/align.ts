/**
 * Aligns one slide's tiles across models by exact (x, y) match. TRIDENT extracts every encoder
 * from the same patch coordinates, so the models' tile sets are identical up to row order; a
 * difference means a broken extraction and is reported, not papered over, unless the caller
 * asks to keep only the shared tiles.
 */
import { ErrorCode, WeightsmithError, invalidInput, type FieldIssue } from '@weightsmith/core';
import type { AlignedSlide, ModelSpec, SlideFeatures } from '../types.js';
import { compareTiles, coordText, sortedTileOrder } from './coord-order.js';

export interface AlignOptions {
  /** 'error' (default): every model must have exactly the same tiles. 'intersect': keep the shared ones. */
  onMissing?: 'error' | 'intersect';
  /** The error field for model m of this slide; default `slides.<id>.features.<model>`. */
  fieldOf?: (model: ModelSpec, index: number) => string;
}

export interface AlignedSlideReport extends AlignedSlide {
  /** Per model (cohort order): its tiles left out because another model lacks them (0 under 'error'). */
  dropped: number[];
}

function fail(code: ErrorCode, issues: FieldIssue[]): never {
  const first = issues[0]!;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  throw new WeightsmithError(code, `${first.message}${more}`, { field: first.field, issues });
}

/** Per model, the first duplicated coordinate (in sorted order) and how many rows repeat one. */
function duplicateIssue(id: string, model: ModelSpec, field: string, coords: Float64Array, order: Uint32Array): FieldIssue | undefined {
  let count = 0;
  let first: [number, number] | undefined;
  for (let i = 1; i < order.length; i++) {
    if (compareTiles(coords, order[i - 1]!, coords, order[i]!) === 0) {
      count += 1;
      first ??= [order[i - 1]!, order[i]!];
    }
  }
  if (!first) return undefined;
  const [a, b] = first.sort((x, y) => x - y) as [number, number];
  return {
    field,
    message: `slide ${id}, model ${model.name}: duplicate tile coordinate ${coordText(coords, a)} at rows ${a} and ${b} (${count} repeated row${count > 1 ? 's' : ''})`,
  };
}

export function alignSlide(id: string, models: readonly ModelSpec[], perModel: readonly SlideFeatures[], options: AlignOptions = {}): AlignedSlideReport {
  const fieldOf = options.fieldOf ?? ((model: ModelSpec) => `slides.${id}.features.${model.name}`);
  if (perModel.length !== models.length) {
    throw invalidInput(`slides.${id}`, `slide ${id}: got features of ${perModel.length} models, the cohort has ${models.length}`);
  }
  const M = models.length;

  const dimIssues: FieldIssue[] = [];
  models.forEach((model, m) => {
    const got = perModel[m]!;
    if (got.dim !== model.dim) {
      dimIssues.push({ field: fieldOf(model, m), message: `slide ${id}, model ${model.name}: feature dim ${got.dim}, registered dim ${model.dim}` });
    }
  });
  if (dimIssues.length > 0) fail(ErrorCode.ShapeMismatch, dimIssues);

  const orders = perModel.map((s) => sortedTileOrder(s.coords));
  const dupIssues = models
    .map((model, m) => duplicateIssue(id, model, fieldOf(model, m), perModel[m]!.coords, orders[m]!))
    .filter((x): x is FieldIssue => x !== undefined);
  if (dupIssues.length > 0) fail(ErrorCode.InvalidInput, dupIssues);

  // M-way merge of the sorted coordinate lists: a coordinate every model has is a shared tile;
  // any other is missing from the models that lack it.
  const pos = new Array<number>(M).fill(0);
  const shared: number[][] = models.map(() => []);
  const missing = new Array<number>(M).fill(0);
  const firstMissing: ([Float64Array, number] | undefined)[] = new Array(M).fill(undefined);
  for (;;) {
    let lead = -1;
    for (let m = 0; m < M; m++) {
      if (pos[m]! >= orders[m]!.length) continue;
      if (lead < 0 || compareTiles(perModel[m]!.coords, orders[m]![pos[m]!]!, perModel[lead]!.coords, orders[lead]![pos[lead]!]!) < 0) lead = m;
    }
    if (lead < 0) break;
    const leadCoords = perModel[lead]!.coords;
    const leadTile = orders[lead]![pos[lead]!]!;
    const present = models.map((_, m) => pos[m]! < orders[m]!.length && compareTiles(perModel[m]!.coords, orders[m]![pos[m]!]!, leadCoords, leadTile) === 0);
    const all = present.every(Boolean);
    for (let m = 0; m < M; m++) {
      if (present[m]) {
        if (all) shared[m]!.push(orders[m]![pos[m]!]!);
        pos[m]! += 1;
      } else {
        missing[m]! += 1;
        firstMissing[m] ??= [leadCoords, leadTile];
      }
    }
  }

  if ((options.onMissing ?? 'error') === 'error') {
    const issues: FieldIssue[] = [];
    models.forEach((model, m) => {
      const example = firstMissing[m];
      if (!example) return;
      issues.push({
        field: fieldOf(model, m),
        message: `slide ${id}, model ${model.name}: lacks ${missing[m]} tile${missing[m] === 1 ? '' : 's'} that other models have (first at ${coordText(example[0], example[1])})`,
      });
    });
    if (issues.length > 0) fail(ErrorCode.InvalidInput, issues);
  }

  const rows = shared[0]!;
  const n = rows.length;
  if (n === 0) throw invalidInput(`slides.${id}`, `slide ${id}: no tile is present in all ${M} models`);
  const coords = new Float64Array(2 * n);
  const first = perModel[0]!.coords;
  for (let t = 0; t < n; t++) {
    coords[2 * t] = first[2 * rows[t]!]!;
    coords[2 * t + 1] = first[2 * rows[t]! + 1]!;
  }
  const features = perModel.map((slide, m) => {
    const d = slide.dim;
    const out = new Float32Array(n * d);
    const picked = shared[m]!;
    for (let t = 0; t < n; t++) out.set(slide.features.subarray(picked[t]! * d, (picked[t]! + 1) * d), t * d);
    return out;
  });
  return { id, n, coords, features, dropped: perModel.map((s) => s.n - n) };
}
