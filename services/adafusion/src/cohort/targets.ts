/**
 * Tile-level regression targets (spatial gene expression) of one slide: safetensors
 * `{targets: n × G, coords: n × 2}` or CSV `x,y,gene…`, put into the aligned slide's tile order.
 */
import { ErrorCode, WeightsmithError, type FieldIssue } from '@weightsmith/core';
import { memorySource, openSafetensors, type SafetensorsTensor } from '@weightsmith/safetensors';
import { bf16ToF32, f16ToF32 } from '@weightsmith/tensor';
import { compareTiles, sortedTileOrder } from '../features/coord-order.js';
import { looksLikeSafetensors } from '../features/sniff.js';
import { firstNonFinite } from '../features/slide-checks.js';
import { parseTargetsCsv, type TileTargets } from './labels.js';

function asNumbers(t: SafetensorsTensor, what: string, field: string): Float64Array {
  switch (t.dtype) {
    case 'F16':
      return Float64Array.from(f16ToF32(t.data));
    case 'BF16':
      return Float64Array.from(bf16ToF32(t.data));
    case 'F32':
    case 'F64':
    case 'I32':
    case 'I16':
    case 'U8':
      return Float64Array.from(t.data);
    case 'I64':
      return Float64Array.from(t.data, (v) => Number(v));
    default:
      throw new WeightsmithError(ErrorCode.InvalidFormat, `${what}: tensor "${t.name}" has unsupported dtype ${t.dtype}`, { field });
  }
}

/** Reads a targets file; `genes` names the columns of a safetensors file (CSV files carry their own). */
export async function readTileTargets(bytes: Uint8Array, genes: readonly string[], source: string, field: string): Promise<TileTargets> {
  const fmt = (message: string, code: ErrorCode = ErrorCode.InvalidFormat): WeightsmithError =>
    new WeightsmithError(code, `${source}: ${message}`, { field });
  let targets: TileTargets;
  if (looksLikeSafetensors(bytes)) {
    const file = await openSafetensors(memorySource(bytes));
    try {
      if (!file.has('targets') || !file.has('coords')) throw fmt('a targets file needs tensors "targets" (n × genes) and "coords" (n × 2)');
      const t = await file.read('targets');
      const c = await file.read('coords');
      const [n, G] = t.shape as [number, number];
      if (t.shape.length !== 2 || c.shape.length !== 2 || c.shape[1] !== 2 || c.shape[0] !== n) {
        throw fmt(`"targets" is [${t.shape}] and "coords" is [${c.shape}]; expected n × genes and n × 2`);
      }
      if (G !== genes.length) throw fmt(`"targets" has ${G} columns but ${genes.length} genes are registered`, ErrorCode.ShapeMismatch);
      targets = { n, genes: [...genes], coords: asNumbers(c, source, field), values: Float32Array.from(asNumbers(t, source, field)) };
    } finally {
      await file.close();
    }
  } else {
    targets = parseTargetsCsv(new TextDecoder('utf-8', { fatal: false }).decode(bytes), source);
    if (targets.genes.join('\u0000') !== genes.join('\u0000')) {
      throw fmt(`gene columns [${targets.genes.join(', ')}] differ from the registered genes [${genes.join(', ')}]`, ErrorCode.ShapeMismatch);
    }
  }
  if (targets.n === 0) throw fmt('no target rows', ErrorCode.InvalidInput);
  const bad = firstNonFinite(targets.values);
  if (bad >= 0) throw fmt(`target ${targets.genes[bad % targets.genes.length]} of row ${Math.floor(bad / targets.genes.length)} is not finite`, ErrorCode.NonFinite);
  return targets;
}

/**
 * The targets in the order of `tileCoords` (an aligned slide's coords, sorted by (y, x)). Every
 * tile needs exactly one target row; rows for tiles the slide does not have are refused too.
 */
export function orderTargets(tileCoords: Float64Array, targets: TileTargets, source: string, field: string): Float32Array {
  const G = targets.genes.length;
  const n = tileCoords.length / 2;
  const order = sortedTileOrder(targets.coords);
  const out = new Float32Array(n * G);
  const issues: FieldIssue[] = [];
  let unmatchedTiles = 0;
  let extraRows = 0;
  let firstUnmatched = '';
  let firstExtra = '';
  let dup = '';
  let i = 0;
  for (let t = 0; t < n; t++) {
    while (i < order.length && compareTiles(targets.coords, order[i]!, tileCoords, t) < 0) {
      extraRows += 1;
      firstExtra ||= `(${targets.coords[2 * order[i]!]}, ${targets.coords[2 * order[i]! + 1]})`;
      i += 1;
    }
    if (i < order.length && compareTiles(targets.coords, order[i]!, tileCoords, t) === 0) {
      out.set(targets.values.subarray(order[i]! * G, (order[i]! + 1) * G), t * G);
      i += 1;
      if (i < order.length && compareTiles(targets.coords, order[i]!, tileCoords, t) === 0) dup ||= `(${tileCoords[2 * t]}, ${tileCoords[2 * t + 1]})`;
    } else {
      unmatchedTiles += 1;
      firstUnmatched ||= `(${tileCoords[2 * t]}, ${tileCoords[2 * t + 1]})`;
    }
  }
  extraRows += order.length - i;
  if (!firstExtra && i < order.length) firstExtra = `(${targets.coords[2 * order[i]!]}, ${targets.coords[2 * order[i]! + 1]})`;
  if (dup) issues.push({ field, message: `${source}: tile ${dup} has more than one target row` });
  if (unmatchedTiles > 0) issues.push({ field, message: `${source}: ${unmatchedTiles} tile(s) have no target row (first at ${firstUnmatched})` });
  if (extraRows > 0 && !dup) issues.push({ field, message: `${source}: ${extraRows} target row(s) are for tiles the slide does not have (first at ${firstExtra})` });
  if (issues.length > 0) throw new WeightsmithError(ErrorCode.InvalidInput, issues[0]!.message, { field, issues });
  return out;
}
