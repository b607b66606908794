/**
 * Merges opened PEFT adapters module by module: checks that shared modules agree, reads each
 * module's factors from every adapter that has it (one module of all inputs in memory at a
 * time), runs the chosen method, measures fidelity, and returns a writer spec for the merged
 * adapter plus the report. The merged factors are kept (rank k, in the output dtype: small next
 * to the inputs) so that every module is merged, and every error raised, before a single byte
 * is written. Fidelity is measured on the float32 factors, before rounding to the output dtype.
 */

/** A merged factor in the output dtype (F32 values or F16/BF16 bits), as the writer takes it. */
function hold(x: Float32Array, dtype: FactorDType): Float32Array | Uint16Array {
  return dtype === 'F32' ? x : dtype === 'BF16' ? f32ToBF16(x) : f32ToF16(x);
}
import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';
import { f32ToBF16, f32ToF16 } from '@weightsmith/tensor';
import type { AdapterModule, CarriedToWrite, FactorDType, PeftAdapter, PeftAdapterToWrite } from '../adapter/index.js';
import { planCarriedTensors } from '../adapter/index.js';
import { measureFidelity, mergeModule, type MergeOptions, type ModuleFactors as MergeFactors } from '../merge/index.js';

export interface MergeInput {
  adapter: PeftAdapter;
  /** User weight w_i. */
  weight: number;
  /** How the caller named it (artifact id, URI, folder), for messages and provenance. */
  ref: string;
}

export type OutputDType = FactorDType | 'auto';

export interface MergeAdaptersOptions extends MergeOptions {
  /** Output dtype; 'auto' (default) = the inputs' dtype when they agree, else F32. */
  dtype?: OutputDType;
}

export interface ModuleReport {
  name: string;
  /** Adapters (input indices) that have this module. */
  inputs: number[];
  k: number;
  inertia?: number;
  clusterSizes?: number[];
  iterations?: number;
  /** Per input that has the module: ‖ΔW' − ΔW_i‖_F / ‖ΔW_i‖_F. */
  relativeError: number[];
  /** Per input that has the module: ‖P ΔW_i‖_F / ‖ΔW_i‖_F, P onto the merged column space. */
  retainedEnergy: number[];
  warnings: string[];
}

export interface MergeReport {
  method: MergeOptions['method'];
  k: number;
  dtype: FactorDType;
  modules: ModuleReport[];
  /** Per input, averaged over the modules it has. */
  inputs: { ref: string; modules: number; meanRelativeError: number; meanRetainedEnergy: number }[];
  warnings: string[];
}

export interface MergeProgress {
  (fraction: number, message: string): void;
}

export interface MergedAdapter {
  spec: PeftAdapterToWrite;
  report: MergeReport;
}

interface ModulePlan {
  name: string;
  kind: AdapterModule['kind'];
  dIn: number;
  dOut: number;
  holders: { input: number; module: AdapterModule }[];
}

/** Union of the inputs' modules in name order; shared modules must agree on kind and shape. */
export function planModules(inputs: readonly MergeInput[]): ModulePlan[] {
  const plans = new Map<string, ModulePlan>();
  inputs.forEach(({ adapter }, input) => {
    for (const module of adapter.modules) {
      const plan = plans.get(module.name);
      if (!plan) {
        plans.set(module.name, { name: module.name, kind: module.kind, dIn: module.dIn, dOut: module.dOut, holders: [{ input, module }] });
        continue;
      }
      if (plan.kind !== module.kind || plan.dIn !== module.dIn || plan.dOut !== module.dOut) {
        const first = plan.holders[0]!;
        throw new WeightsmithError(
          ErrorCode.ShapeMismatch,
          `module '${module.name}' is ${describe(plan)} in adapter ${first.input} (${inputs[first.input]!.ref}) but ${describe(module)} in adapter ${input} (${inputs[input]!.ref})`,
          { field: `adapters.${input}.ref` },
        );
      }
      plan.holders.push({ input, module });
    }
  });
  return [...plans.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

const describe = (m: { kind: string; dIn: number; dOut: number }): string => `${m.kind} ${m.dIn}→${m.dOut}`;

function outputDType(inputs: readonly MergeInput[], requested: OutputDType | undefined): FactorDType {
  if (requested !== undefined && requested !== 'auto') return requested;
  const dtypes = new Set(inputs.flatMap(({ adapter }) => adapter.modules.map((m) => m.dtype)));
  return dtypes.size === 1 ? [...dtypes][0]! : 'F32';
}

/** The rank every module of the output gets (PEFT needs one r unless rank_pattern is used). */
function outputRank(plans: readonly ModulePlan[], options: MergeOptions): number {
  if (options.k !== undefined) return options.k;
  const ranks = plans.map((p) => p.holders.map((h) => h.module.r));
  const sum = (rs: number[]): number => rs.reduce((s, r) => s + r, 0);
  switch (options.method) {
    case 'cat':
    case 'task_arithmetic':
      return Math.max(...ranks.map(sum));
    default:
      return Math.max(...ranks.flat());
  }
}

export async function mergeAdapters(
  inputs: readonly MergeInput[],
  options: MergeAdaptersOptions,
  hooks: { progress?: MergeProgress; signal?: AbortSignal } = {},
): Promise<MergedAdapter> {
  if (inputs.length === 0) throw invalidInput('adapters', 'at least one adapter is needed');
  inputs.forEach((input, i) => {
    if (!Number.isFinite(input.weight)) throw invalidInput(`adapters.${i}.weight`, `weight must be a finite number, got ${input.weight}`);
  });
  const warnings: string[] = [];
  const bases = new Set(inputs.map(({ adapter }) => adapter.baseModel ?? ''));
  if (bases.size > 1) warnings.push(`the adapters name different base models (${[...bases].map((b) => b || '(none)').join(', ')}); merging them is only meaningful if the bases share weights`);
  if (options.method === 'linear') {
    const ranks = new Set(inputs.flatMap(({ adapter }) => adapter.modules.map((m) => m.r)));
    if (ranks.size > 1) throw invalidInput('method', `'linear' sums A's and B's separately and needs equal ranks; the adapters have ranks ${[...ranks].sort((a, b) => a - b).join(', ')} (use 'cat', 'svd' or 'lego')`);
  }

  const plans = planModules(inputs);
  if (plans.length === 0) throw invalidInput('adapters', 'the adapters have no LoRA modules');
  const k = outputRank(plans, options);
  const dtype = outputDType(inputs, options.dtype);
  const carried: CarriedToWrite[] = await planCarriedTensors(inputs.map((i) => i.adapter));

  const merged: { A: Float32Array | Uint16Array; B: Float32Array | Uint16Array }[] = [];
  const modules: ModuleReport[] = [];
  for (const [index, plan] of plans.entries()) {
    hooks.signal?.throwIfAborted();
    const factors: MergeFactors[] = [];
    for (const { input, module } of plan.holders) {
      const { A, B } = await inputs[input]!.adapter.readModule(plan.name);
      factors.push({ A, B, r: module.r, scale: module.scale, weight: inputs[input]!.weight });
    }
    // readModule already refused NaN/Inf, so the merge need not scan the values again.
    const result = await mergeModule(plan.name, factors, plan.dIn, plan.dOut, { ...options, k, valuesChecked: true });
    const fit = await measureFidelity(factors, result, plan.dIn, plan.dOut);
    // mergeModule pads a module that yields fewer directions (k ≥ R) with zero ranks up to k.
    merged.push({ A: hold(result.A, dtype), B: hold(result.B, dtype) });
    modules.push({
      name: plan.name,
      inputs: plan.holders.map((h) => h.input),
      k: result.k,
      ...(result.stats.inertia === undefined ? {} : { inertia: result.stats.inertia }),
      ...(result.stats.clusterSizes === undefined ? {} : { clusterSizes: result.stats.clusterSizes }),
      ...(result.stats.iterations === undefined ? {} : { iterations: result.stats.iterations }),
      relativeError: fit.relativeError,
      retainedEnergy: fit.retainedEnergy,
      warnings: result.stats.warnings,
    });
    if (plan.holders.length < inputs.length) {
      const missing = inputs.map((_, i) => i).filter((i) => !plan.holders.some((h) => h.input === i));
      warnings.push(`module '${plan.name}' is missing from adapter(s) ${missing.join(', ')}; merged from the others`);
    }
    hooks.progress?.((index + 1) / plans.length, `merged ${plan.name}`);
  }

  const report: MergeReport = {
    method: options.method,
    k,
    dtype,
    modules,
    inputs: inputs.map((input, i) => {
      const mine = modules.map((m) => ({ m, at: m.inputs.indexOf(i) })).filter(({ at }) => at >= 0);
      const mean = (pick: (m: ModuleReport, at: number) => number): number =>
        mine.length === 0 ? 0 : mine.reduce((s, { m, at }) => s + pick(m, at), 0) / mine.length;
      return {
        ref: input.ref,
        modules: mine.length,
        meanRelativeError: mean((m, at) => m.relativeError[at]!),
        meanRetainedEnergy: mean((m, at) => m.retainedEnergy[at]!),
      };
    }),
    warnings: [...warnings, ...new Set(modules.flatMap((m) => m.warnings))],
  };

  const first = inputs[0]!.adapter;
  const spec: PeftAdapterToWrite = {
    k,
    dtype,
    ...(first.baseModel === undefined ? {} : { baseModel: first.baseModel }),
    inheritFrom: first.config,
    carried,
    modules: plans.map((plan, i) => ({
      name: plan.name,
      kind: plan.kind,
      dIn: plan.dIn,
      dOut: plan.dOut,
      produce: () => merged[i]!,
    })),
    metadata: {
      producer: 'weightsmith/lora-lego',
      method: options.method,
      k: String(k),
      seed: String(options.seed ?? 0),
      inputs: JSON.stringify(inputs.map((i) => ({ ref: i.ref, weight: i.weight }))),
    },
  };
  return { spec, report };
}
