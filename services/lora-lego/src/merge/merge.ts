import { concatFactors, linearFactors, truncatedSumOfProducts } from './factored.js';
import { denseMerge } from './dense.js';
import { legoMerge } from './lego.js';
import { resolveOptions, validateInputs } from './options.js';
import type { MergedModule, MergeOptions, ModuleFactors } from './types.js';

/**
 * Merges one module of several adapters into one rank-k LoRA pair (ΔW' = B'·A', scaling 1).
 * Modules are independent: the pipeline calls this once per module, streaming.
 *
 * Output rank: `opts.k`, defaulting to max r_i (lego, svd, dense methods), Σ r_i (cat,
 * task_arithmetic) or r (linear). Whenever a method yields fewer non-zero directions than k, the
 * factors are zero-padded to k (so every module of a merged adapter has the same rank) and a
 * warning says so where it is unexpected.
 *
 * Errors (WeightsmithError): invalid_input naming `method`, `k`, `seed` or `options.<name>` for
 * bad options, `inputs` for an empty list and `inputs[i].<field>` for a bad scale/weight/rank;
 * shape_mismatch for factor lengths; non_finite for NaN/Inf factor entries.
 */
export async function mergeModule(moduleName: string, inputs: ModuleFactors[], dIn: number, dOut: number, opts: MergeOptions): Promise<MergedModule> {
  validateInputs(moduleName, inputs, dIn, dOut, opts.valuesChecked === true);
  const o = resolveOptions(opts, inputs);
  const R = inputs.reduce((s, f) => s + f.r, 0);
  const coef = inputs.map((f) => f.weight * f.scale);
  const warnings: string[] = [];
  switch (o.method) {
    case 'lego':
      return legoMerge(inputs, dIn, dOut, o);
    case 'cat': {
      const { A, B } = concatFactors(inputs, coef, dIn, dOut, o.k);
      return { A, B, k: o.k, stats: { warnings } };
    }
    case 'linear': {
      const { A, B } = linearFactors(inputs, coef, dIn, dOut, o.k);
      return { A, B, k: o.k, stats: { warnings } };
    }
    case 'svd':
    case 'task_arithmetic': {
      const scaled = o.method === 'task_arithmetic' ? coef.map((c) => c * o.lambda) : coef;
      if (o.k > R) warnings.push(`k = ${o.k} exceeds the combined rank Σ r_i = ${R}: the result is exact and zero-padded`);
      const lr = await truncatedSumOfProducts(inputs, scaled, dIn, dOut, o.k);
      return { A: lr.A, B: lr.B, k: o.k, stats: { warnings } };
    }
    default:
      return denseMerge(moduleName, inputs, dIn, dOut, o);
  }
}
