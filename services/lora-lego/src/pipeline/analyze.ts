/**
 * Per-module statistics that help choose k and a method before merging: each adapter's ΔW norm,
 * how aligned the adapters' updates are (cosine of the ΔW_i, computed in factored form), and how
 * much of each input a rank-k `svd` merge keeps at candidate ranks.
 */
import { matmulTransB } from '@weightsmith/tensor';
import { measureFidelity, mergeModule, type ModuleFactors } from '../merge/index.js';
import { transposeF32 } from '../merge/small-linalg.js';
import { planModules, type MergeInput } from './merge-adapters.js';

export interface ModuleAnalysis {
  name: string;
  dIn: number;
  dOut: number;
  inputs: number[];
  ranks: number[];
  /** ‖w_i s_i B_i A_i‖_F per input. */
  norms: number[];
  /** cos(ΔW_i, ΔW_j) for the inputs that have this module, row-major len(inputs)². */
  cosine: number[];
  /** Per candidate k: retained energy of each input under a rank-k svd merge. */
  retainedAtK: { k: number; retainedEnergy: number[]; relativeError: number[] }[];
}

export interface Analysis {
  modules: ModuleAnalysis[];
  /** Candidate ranks, and per k the retained energy averaged over modules and inputs. */
  summary: { k: number; meanRetainedEnergy: number; meanRelativeError: number }[];
  /** Mean cosine between different adapters over all shared modules (0: orthogonal updates). */
  meanCrossCosine: number;
}

/** ⟨s_i B_i A_i, s_j B_j A_j⟩_F = s_i s_j Σ (B_iᵀB_j) ∘ (A_i A_jᵀ), with r×r products only. */
async function frobeniusInner(x: ModuleFactors, y: ModuleFactors, dIn: number, dOut: number): Promise<number> {
  const aa = await matmulTransB(x.A, y.A, x.r, dIn, y.r);
  const bb = await matmulTransB(transposeF32(x.B, dOut, x.r), transposeF32(y.B, dOut, y.r), x.r, dOut, y.r);
  let s = 0;
  for (let i = 0; i < aa.length; i++) s += aa[i]! * bb[i]!;
  return s * x.scale * x.weight * y.scale * y.weight;
}

export async function analyzeAdapters(
  inputs: readonly MergeInput[],
  candidateKs: readonly number[],
  hooks: { progress?: (fraction: number, message: string) => void } = {},
): Promise<Analysis> {
  const plans = planModules(inputs);
  const modules: ModuleAnalysis[] = [];
  let crossSum = 0;
  let crossCount = 0;
  for (const [index, plan] of plans.entries()) {
    const factors: ModuleFactors[] = [];
    for (const { input, module } of plan.holders) {
      const { A, B } = await inputs[input]!.adapter.readModule(plan.name);
      factors.push({ A, B, r: module.r, scale: module.scale, weight: inputs[input]!.weight });
    }
    const n = factors.length;
    const gram = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        const v = await frobeniusInner(factors[i]!, factors[j]!, plan.dIn, plan.dOut);
        gram[i * n + j] = v;
        gram[j * n + i] = v;
      }
    }
    const norms = Array.from({ length: n }, (_, i) => Math.sqrt(Math.max(0, gram[i * n + i]!)));
    const cosine = Array.from(gram, (v, at) => {
      const d = norms[Math.floor(at / n)]! * norms[at % n]!;
      return d > 0 ? v / d : 0;
    });
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) (crossSum += cosine[i * n + j]!), crossCount++;
    const retainedAtK: ModuleAnalysis['retainedAtK'] = [];
    for (const k of candidateKs) {
      const merged = await mergeModule(plan.name, factors, plan.dIn, plan.dOut, { method: 'svd', k });
      const fit = await measureFidelity(factors, merged, plan.dIn, plan.dOut);
      retainedAtK.push({ k, retainedEnergy: fit.retainedEnergy, relativeError: fit.relativeError });
    }
    modules.push({
      name: plan.name,
      dIn: plan.dIn,
      dOut: plan.dOut,
      inputs: plan.holders.map((h) => h.input),
      ranks: factors.map((f) => f.r),
      norms,
      cosine,
      retainedAtK,
    });
    hooks.progress?.((index + 1) / plans.length, `analysed ${plan.name}`);
  }
  const summary = candidateKs.map((k, at) => {
    const all = modules.flatMap((m) => m.retainedAtK[at]!.retainedEnergy);
    const errs = modules.flatMap((m) => m.retainedAtK[at]!.relativeError);
    const mean = (xs: number[]): number => (xs.length === 0 ? 0 : xs.reduce((s, x) => s + x, 0) / xs.length);
    return { k, meanRetainedEnergy: mean(all), meanRelativeError: mean(errs) };
  });
  return { modules, summary, meanCrossCosine: crossCount === 0 ? 0 : crossSum / crossCount };
}
