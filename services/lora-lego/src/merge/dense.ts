import { matmul, Rng } from '@weightsmith/tensor';
import type { ResolvedOptions } from './options.js';
import { randomizedTruncatedSvd } from './rsvd.js';
import { keepTopMagnitude } from './select.js';
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
 * Memory per module: one work buffer and one accumulator of dOut·dIn F32 plus two byte arrays
 * (ties); the ties passes recompute each ΔW_i (a fast matmul) instead of keeping N of them.
 */

export async function denseMerge(moduleName: string, inputs: readonly ModuleFactors[], dIn: number, dOut: number, opts: ResolvedOptions): Promise<MergedModule> {
  const warnings: string[] = [];
  const full = Math.min(dIn, dOut);
  if (opts.k > full) warnings.push(`k = ${opts.k} exceeds min(dIn, dOut) = ${full}: the result is zero-padded`);
  const delta = await denseCombine(moduleName, inputs, dIn, dOut, opts);
  const rng = new Rng(opts.seed).fork(`${moduleName}/rsvd`);
  const { A, B } = await randomizedTruncatedSvd(delta, dOut, dIn, opts.k, rng, opts.oversample, opts.powerIterations);
  return { A, B, k: opts.k, stats: { warnings } };
}

type DenseMethod = 'ties' | 'dare_linear' | 'dare_ties' | 'magnitude_prune';

/** The merged dense delta (dOut×dIn, row-major) of a dense method, before the rank-k truncation. */
export async function denseCombine(
  moduleName: string,
  inputs: readonly ModuleFactors[],
  dIn: number,
  dOut: number,
  opts: Pick<ResolvedOptions, 'method' | 'density' | 'seed' | 'majoritySign'>,
): Promise<Float32Array> {
  const method = opts.method as DenseMethod;
  const n = dOut * dIn;
  const work = new Float32Array(n);
  const acc = new Float32Array(n);
  const random = method === 'dare_linear' || method === 'dare_ties';
  const taskVector = async (i: number): Promise<Float32Array> => {
    const f = inputs[i]!;
    await matmul(f.B, f.A, dOut, f.r, dIn, { out: work });
    const c = f.weight * f.scale;
    if (random) {
      const rng = new Rng(opts.seed).fork(`${moduleName}/${i}`);
      const threshold = opts.density * 4294967296;
      const g = c / opts.density;
      for (let t = 0; t < n; t++) work[t] = rng.nextUint32() < threshold ? work[t]! * g : 0;
    } else {
      keepTopMagnitude(work, Math.floor(opts.density * n));
      for (let t = 0; t < n; t++) work[t] = work[t]! * c;
    }
    return work;
  };

  if (method === 'magnitude_prune' || method === 'dare_linear') {
    for (let i = 0; i < inputs.length; i++) {
      const tv = await taskVector(i);
      for (let t = 0; t < n; t++) acc[t] = acc[t]! + tv[t]!;
    }
    return acc;
  }

  // ties / dare_ties: elect a sign per entry, then average the agreeing entries.
  const frequency = opts.majoritySign === 'frequency';
  for (let i = 0; i < inputs.length; i++) {
    const tv = await taskVector(i);
    if (frequency) for (let t = 0; t < n; t++) acc[t] = acc[t]! + Math.sign(tv[t]!);
    else for (let t = 0; t < n; t++) acc[t] = acc[t]! + tv[t]!;
  }
  const elected = new Int8Array(n);
  for (let t = 0; t < n; t++) elected[t] = acc[t]! >= 0 ? 1 : -1;
  acc.fill(0);
  const count = inputs.length > 255 ? new Uint16Array(n) : new Uint8Array(n);
  for (let i = 0; i < inputs.length; i++) {
    const tv = await taskVector(i);
    for (let t = 0; t < n; t++) {
      const v = tv[t]!;
      if ((v > 0 && elected[t] === 1) || (v < 0 && elected[t] === -1)) {
        acc[t] = acc[t]! + v;
        count[t]!++;
      }
    }
  }
  for (let t = 0; t < n; t++) if (count[t]! > 1) acc[t] = acc[t]! / count[t]!;
  return acc;
}
