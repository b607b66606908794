import { ErrorCode, WeightsmithError } from '@weightsmith/core';
import { MATMUL_ORT_MIN_FLOPS, matmul, Rng } from '@weightsmith/tensor';
import { DareMask } from './dare-mask.js';
import type { ResolvedOptions } from './options.js';
import { randomizedTruncatedSvd } from './rsvd.js';
import { putLarge, putScratch, takeLarge, takeScratch } from './scratch.js';
import { MagnitudeCut } from './select.js';
import type { MergedModule, ModuleFactors } from './types.js';

/*
 * The dense baselines, after PEFT's merge_utils (which follow TIES-Merging, Yadav et al. 2023,
 * and DARE, Yu et al. 2024), applied to the full deltas ΔW_i = s_i·B_i·A_i of one module and
 * brought back to rank k by a randomized truncated SVD:
 *
 *   magnitude_prune  Σ_i w_i·trim(ΔW_i)
 *   ties             disjoint mean of w_i·trim(ΔW_i) over the entries agreeing with the elected sign
 *   dare_linear      Σ_i w_i·dare(ΔW_i)
 *   dare_ties        disjoint mean as in ties, on w_i·dare(ΔW_i)
 *
 * trim keeps the ⌊density·N⌋ entries of largest magnitude (PEFT's int(density·numel); equal
 * magnitudes at the cut: lowest index first) and zeroes the rest. dare keeps each entry with
 * probability `density` and divides the kept ones by density; its random stream for input i is
 * Rng(seed).fork(`${moduleName}/${i}`), so a module's result does not depend on which other
 * modules are merged or in what order. Default density 0.5 (PEFT has no default; it must be
 * passed there).
 *
 * Sign election (ties, dare_ties): 'total' takes the sign of Σ_i w_i·τ_i entrywise, 'frequency'
 * the sign of Σ_i sign(w_i·τ_i); a zero sum elects +, as in PEFT. Unlike PEFT, which elects on the
 * unweighted τ_i and applies w_i afterwards, the election here sees the user weights, so a
 * negative weight (subtracting a task) takes part in the vote with its effective sign; with
 * equal positive weights both agree. The disjoint mean divides by the number of agreeing non-zero
 * entries (at least 1).
 *
 * Buffers: the merged result and, for the trim methods, one whole ΔW_i at a time live in large
 * buffers reused across modules (takeLarge): fresh memory costs ~4 ms per MB in page faults here.
 * magnitude_prune computes each ΔW_i once (whole: cut, trim, scale, sum). ties computes each ΔW_i
 * whole once for its cut, then combines in row blocks (BLOCK_ELEMENTS per input) that recompute
 * B_i·A_i per block, so the election and disjoint mean run on cache-resident blocks with no
 * dOut·dIn sign or count arrays. dare_* need no global statistic and run in row blocks only, with
 * the seeded mask stream continued across blocks (DareMask). B·A with r = 16 is the dominant cost
 * (~0.7 s for 11008×4096 on the dev VM, output-bound in MLAS); the rSVD products reading M are
 * ~20–40 ms each.
 */

/** Entries of ΔW per block (1 MB of F32): the N task-vector blocks and the merged block stay in cache. */
const BLOCK_ELEMENTS = 1 << 18;

export async function denseMerge(moduleName: string, inputs: readonly ModuleFactors[], dIn: number, dOut: number, opts: ResolvedOptions): Promise<MergedModule> {
  const warnings: string[] = [];
  const full = Math.min(dIn, dOut);
  if (opts.k > full) warnings.push(`k = ${opts.k} exceeds min(dIn, dOut) = ${full}: the result is zero-padded`);
  const delta = takeLarge(dOut * dIn);
  try {
    await denseCombine(moduleName, inputs, dIn, dOut, opts, delta);
    const rng = new Rng(opts.seed).fork(`${moduleName}/rsvd`);
    const { A, B } = await randomizedTruncatedSvd(delta, dOut, dIn, opts.k, rng, opts.oversample, opts.powerIterations);
    return { A, B, k: opts.k, stats: { warnings } };
  } finally {
    putLarge(delta);
  }
}

type DenseMethod = 'ties' | 'dare_linear' | 'dare_ties' | 'magnitude_prune';

/**
 * The merged dense delta (dOut×dIn, row-major) of a dense method, before the rank-k truncation,
 * written into `out` when given (dOut·dIn elements, every one overwritten), else into a new array.
 */
export async function denseCombine(
  moduleName: string,
  inputs: readonly ModuleFactors[],
  dIn: number,
  dOut: number,
  opts: Pick<ResolvedOptions, 'method' | 'density' | 'seed' | 'majoritySign'>,
  out?: Float32Array,
): Promise<Float32Array> {
  const method = opts.method as DenseMethod;
  const n = dOut * dIn;
  const acc = out ?? new Float32Array(n);
  if (acc.length !== n) throw new WeightsmithError(ErrorCode.Internal, `denseCombine: out has ${acc.length} elements, the ${dOut}×${dIn} delta needs ${n}`);
  if (n === 0) return acc;
  const random = method === 'dare_linear' || method === 'dare_ties';
  if (method === 'magnitude_prune') {
    // Σ_i w_i·trim(ΔW_i), each ΔW_i whole (computed once): acc = 0 + the first, then + the others.
    await magnitudeCuts(inputs, dIn, dOut, opts.density, (i, trimmed) => {
      const c = inputs[i]!.weight * inputs[i]!.scale;
      if (i === 0) for (let t = 0; t < n; t++) acc[t] = trimmed[t]! * c + 0;
      else for (let t = 0; t < n; t++) acc[t] = acc[t]! + Math.fround(trimmed[t]! * c);
    });
    return acc;
  }
  const rowsPerBlock = Math.max(1, Math.min(dOut, Math.floor(BLOCK_ELEMENTS / dIn)));
  const blockLength = rowsPerBlock * dIn;
  const blocks = inputs.map(() => takeScratch(blockLength));
  const sign = method === 'ties' || method === 'dare_ties' ? takeScratch(blockLength) : undefined;
  const count = sign === undefined ? undefined : takeScratch(blockLength);
  try {
    const taskBlock = taskBlocks(inputs, dIn, dOut, blocks);
    const cuts = random ? undefined : await magnitudeCuts(inputs, dIn, dOut, opts.density);
    const masks = random ? inputs.map((_, i) => new DareMask(opts.seed, `${moduleName}/${i}`, opts.density)) : undefined;
    for (let r0 = 0; r0 < dOut; r0 += rowsPerBlock) {
      const rows = Math.min(rowsPerBlock, dOut - r0);
      const tvs: Float32Array[] = [];
      for (let i = 0; i < inputs.length; i++) {
        const tv = await taskBlock(i, r0, rows);
        const c = inputs[i]!.weight * inputs[i]!.scale;
        if (masks !== undefined) masks[i]!.apply(tv, c / opts.density);
        else {
          cuts![i]!.trim(tv);
          scale(tv, c);
        }
        tvs.push(tv);
      }
      const accBlock = acc.subarray(r0 * dIn, (r0 + rows) * dIn);
      if (sign === undefined) sumInto(accBlock, tvs);
      else disjointMean(accBlock, tvs, sign.subarray(0, accBlock.length), count!.subarray(0, accBlock.length), opts.majoritySign === 'frequency');
    }
  } finally {
    for (const b of blocks) putScratch(b);
    if (sign !== undefined) putScratch(sign);
    if (count !== undefined) putScratch(count);
  }
  return acc;
}

type TaskBlock = (i: number, r0: number, rows: number) => Promise<Float32Array>;

/**
 * Rows r0..r0+rows of the unscaled ΔW_i = B_i·A_i into input i's block buffer. The matmul path is
 * chosen for the whole product (as a single call over all rows would), so that the blocks hold the
 * same values whatever the block size.
 */
function taskBlocks(inputs: readonly ModuleFactors[], dIn: number, dOut: number, blocks: Float32Array[]): TaskBlock {
  const paths = inputs.map((f) => (f.r >= 2 && 2 * dOut * f.r * dIn >= MATMUL_ORT_MIN_FLOPS ? 'ort' : 'js'));
  return async (i, r0, rows) => {
    const f = inputs[i]!;
    const out = blocks[i]!.subarray(0, rows * dIn);
    return matmul(f.B.subarray(r0 * f.r, (r0 + rows) * f.r), f.A, rows, f.r, dIn, { out, path: paths[i]! });
  };
}

/**
 * The trim cut of each ΔW_i (top ⌊density·N⌋ magnitudes). Each ΔW_i is computed whole once into a
 * reused large buffer (B·A with r = 16 is the most expensive step here, ~0.7 s for 11008×4096, so
 * it is not recomputed for the two radix passes); `each`, when given, then sees the trimmed ΔW_i
 * (magnitude_prune sums there and needs no further pass).
 */
async function magnitudeCuts(
  inputs: readonly ModuleFactors[],
  dIn: number,
  dOut: number,
  density: number,
  each?: (i: number, trimmed: Float32Array) => void,
): Promise<MagnitudeCut[]> {
  const n = dOut * dIn;
  const cuts = inputs.map(() => new MagnitudeCut(Math.floor(density * n), n));
  const work = takeLarge(n);
  try {
    for (let i = 0; i < inputs.length; i++) {
      const f = inputs[i]!;
      const cut = cuts[i]!;
      await matmul(f.B, f.A, dOut, f.r, dIn, { out: work });
      if (!cut.all && !cut.none) {
        cut.addHigh(work);
        cut.resolveHigh();
        cut.addLow(work);
        cut.resolveLow();
      }
      if (each !== undefined) {
        cut.trim(work);
        each(i, work);
      }
    }
  } finally {
    putLarge(work);
  }
  return cuts;
}

function scale(v: Float32Array, c: number): void {
  for (let t = 0; t < v.length; t++) v[t] = v[t]! * c;
}

/** acc = Σ_i tvs[i] in input order, each partial sum rounded to F32 (0 + the first, so −0 becomes +0). */
function sumInto(acc: Float32Array, tvs: readonly Float32Array[]): void {
  const first = tvs[0]!;
  for (let t = 0; t < acc.length; t++) acc[t] = first[t]! + 0;
  for (let i = 1; i < tvs.length; i++) {
    const tv = tvs[i]!;
    for (let t = 0; t < acc.length; t++) acc[t] = acc[t]! + tv[t]!;
  }
}

/**
 * TIES on one block: elect the sign of Σ_i tv_i (or of Σ_i sign(tv_i)) per entry, + on a zero sum,
 * then average the non-zero entries that agree with it. `sign` and `count` are work space.
 */
function disjointMean(acc: Float32Array, tvs: readonly Float32Array[], sign: Float32Array, count: Float32Array, frequency: boolean): void {
  const len = acc.length;
  sign.fill(0);
  for (const tv of tvs) {
    if (frequency) for (let t = 0; t < len; t++) sign[t] = sign[t]! + Math.sign(tv[t]!);
    else for (let t = 0; t < len; t++) sign[t] = sign[t]! + tv[t]!;
  }
  acc.fill(0);
  count.fill(0);
  for (const tv of tvs) {
    for (let t = 0; t < len; t++) {
      const v = tv[t]!;
      if (v > 0 ? sign[t]! >= 0 : v < 0 && !(sign[t]! >= 0)) {
        acc[t] = acc[t]! + v;
        count[t] = count[t]! + 1;
      }
    }
  }
  for (let t = 0; t < len; t++) if (count[t]! > 1) acc[t] = acc[t]! / count[t]!;
}
