import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';
import { MERGE_METHODS, type MergeMethod, type MergeOptions, type ModuleFactors } from './types.js';

/** Largest output rank accepted (a LoRA of rank 1024 is already larger than most base layers' useful rank). */
export const MAX_MERGE_RANK = 1024;

export const DEFAULT_DENSITY = 0.5;

/** Options after defaults and validation; `k` is the output rank of this module. */
export interface ResolvedOptions {
  method: MergeMethod;
  k: number;
  /** True when the caller gave k (cat/linear then require k ≥ their exact rank). */
  kGiven: boolean;
  seed: number | string;
  nInit: number;
  maxIter: number;
  tol: number;
  metric: 'euclidean' | 'cosine';
  paramNorm: 'l2' | 'linf' | 'none';
  outputScale: 'sqrt_rank_ratio' | 'none' | number;
  density: number;
  lambda: number;
  majoritySign: 'total' | 'frequency';
  oversample: number;
  powerIterations: number;
}

function intIn(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidInput(field, `${field} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw invalidInput(field, `${field} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

function finiteNumber(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidInput(field, `${field} must be a finite number, got ${String(value)}`);
  return value;
}

/**
 * Checks the inputs of one module: at least one adapter, integer ranks, factor lengths that fit
 * r, dIn and dOut, finite scale and weight, and finite factor entries.
 */
export function validateInputs(moduleName: string, inputs: readonly ModuleFactors[], dIn: number, dOut: number, valuesChecked = false): void {
  intIn(dIn, 'dIn', 1, Number.MAX_SAFE_INTEGER);
  intIn(dOut, 'dOut', 1, Number.MAX_SAFE_INTEGER);
  if (!Array.isArray(inputs) || inputs.length === 0) throw invalidInput('inputs', `module '${moduleName}': at least one adapter is needed, got none`);
  inputs.forEach((f, i) => {
    const at = `inputs[${i}]`;
    intIn(f.r, `${at}.r`, 1, Number.MAX_SAFE_INTEGER);
    finiteNumber(f.scale, `${at}.scale`);
    finiteNumber(f.weight, `${at}.weight`);
    for (const [name, arr, rows, cols] of [['A', f.A, f.r, dIn], ['B', f.B, dOut, f.r]] as const) {
      if (!(arr instanceof Float32Array)) throw invalidInput(`${at}.${name}`, `module '${moduleName}' ${at}.${name} must be a Float32Array`);
      if (arr.length !== rows * cols) {
        throw new WeightsmithError(
          ErrorCode.ShapeMismatch,
          `module '${moduleName}' ${at}.${name}: a ${rows}×${cols} matrix needs ${rows * cols} values, got ${arr.length}`,
          { field: `${at}.${name}` },
        );
      }
      for (let j = 0; !valuesChecked && j < arr.length; j++) {
        const v = arr[j]!;
        if (v - v !== 0) {
          throw new WeightsmithError(
            ErrorCode.NonFinite,
            `module '${moduleName}' ${at}.${name}[${Math.floor(j / cols)}, ${j % cols}] is ${v}; adapter weights must be finite`,
            { field: `${at}.${name}` },
          );
        }
      }
    }
  });
}

/** Applies defaults and the per-method rules on k (see `MergeOptions`). */
export function resolveOptions(opts: MergeOptions, inputs: readonly ModuleFactors[]): ResolvedOptions {
  if (opts === null || typeof opts !== 'object') throw invalidInput('options', 'merge options must be an object');
  const method = oneOf(opts.method, 'method', MERGE_METHODS);
  const totalRank = inputs.reduce((s, f) => s + f.r, 0);
  const maxRank = inputs.reduce((m, f) => Math.max(m, f.r), 0);
  const kGiven = opts.k !== undefined;
  if (kGiven) intIn(opts.k, 'k', 1, MAX_MERGE_RANK);
  let k: number;
  switch (method) {
    case 'cat':
      k = opts.k ?? totalRank;
      if (k < totalRank) throw invalidInput('k', `'cat' keeps every rank, so k must be at least Σ r_i = ${totalRank}, got ${k}`);
      break;
    case 'linear': {
      const ranks = [...new Set(inputs.map((f) => f.r))];
      if (ranks.length > 1) throw invalidInput('method', `'linear' sums the A's and the B's, so all ranks must be equal; got ranks ${inputs.map((f) => f.r).join(', ')}`);
      k = opts.k ?? maxRank;
      if (k < maxRank) throw invalidInput('k', `'linear' produces rank r = ${maxRank}, so k must be at least ${maxRank}, got ${k}`);
      break;
    }
    case 'task_arithmetic':
      k = opts.k ?? totalRank;
      break;
    default:
      k = opts.k ?? maxRank;
  }
  if (k > MAX_MERGE_RANK) throw invalidInput('k', `the output rank would be ${k}; the cap is ${MAX_MERGE_RANK} (give a smaller k or fewer adapters)`);

  const seed = opts.seed ?? 0;
  if (typeof seed === 'number') intIn(seed, 'seed', 0, Number.MAX_SAFE_INTEGER);
  else if (typeof seed !== 'string') throw invalidInput('seed', `seed must be a non-negative integer or a string, got ${String(seed)}`);

  const density = opts.density ?? DEFAULT_DENSITY;
  if (typeof density !== 'number' || !(density > 0 && density <= 1)) {
    throw invalidInput('options.density', `options.density must be a number in (0, 1], got ${String(density)}`);
  }
  const tol = opts.tol ?? 1e-6;
  if (typeof tol !== 'number' || !(tol >= 0) || !Number.isFinite(tol)) throw invalidInput('options.tol', `options.tol must be a finite number ≥ 0, got ${String(tol)}`);
  let outputScale: ResolvedOptions['outputScale'] = opts.outputScale ?? 'sqrt_rank_ratio';
  if (typeof outputScale === 'number') {
    if (!Number.isFinite(outputScale) || outputScale <= 0) throw invalidInput('options.outputScale', `a numeric options.outputScale must be finite and > 0, got ${outputScale}`);
  } else {
    outputScale = oneOf(outputScale, 'options.outputScale', ['sqrt_rank_ratio', 'none'] as const);
  }
  return {
    method,
    k,
    kGiven,
    seed,
    nInit: intIn(opts.nInit ?? 4, 'options.nInit', 1, 1000),
    maxIter: intIn(opts.maxIter ?? 100, 'options.maxIter', 1, 100_000),
    tol,
    metric: oneOf(opts.metric ?? 'euclidean', 'options.metric', ['euclidean', 'cosine'] as const),
    paramNorm: oneOf(opts.paramNorm ?? 'l2', 'options.paramNorm', ['l2', 'linf', 'none'] as const),
    outputScale,
    density,
    lambda: finiteNumber(opts.lambda ?? 1, 'options.lambda'),
    majoritySign: oneOf(opts.majoritySign ?? 'total', 'options.majoritySign', ['total', 'frequency'] as const),
    oversample: intIn(opts.oversample ?? 10, 'options.oversample', 0, 1000),
    powerIterations: intIn(opts.powerIterations ?? 2, 'options.powerIterations', 0, 20),
  };
}
