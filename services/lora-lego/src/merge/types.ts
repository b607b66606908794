/** One adapted module of one input adapter, as the merge algorithms take it. */
export interface ModuleFactors {
  /** r×dIn, row-major (PEFT `lora_A.weight`). */
  A: Float32Array;
  /** dOut×r, row-major (PEFT `lora_B.weight`). */
  B: Float32Array;
  r: number;
  /** s_i = α/r (α/√r with rsLoRA), already resolved from the adapter config. */
  scale: number;
  /** User weight w_i (default 1 at the API edge). */
  weight: number;
}

export type MergeMethod = 'lego' | 'cat' | 'linear' | 'task_arithmetic' | 'svd' | 'ties' | 'dare_linear' | 'dare_ties' | 'magnitude_prune';

export const MERGE_METHODS: readonly MergeMethod[] = ['lego', 'cat', 'linear', 'task_arithmetic', 'svd', 'ties', 'dare_linear', 'dare_ties', 'magnitude_prune'];

export interface MergeOptions {
  method: MergeMethod;
  /** Output rank. Defaults: lego/svd/dense methods max r_i; task_arithmetic and cat R = Σ r_i; linear r. */
  k?: number;
  seed?: number | string;
  /** k-means restarts (lego). Default 4. */
  nInit?: number;
  /** Lloyd iterations per restart (lego). Default 100. */
  maxIter?: number;
  /** Relative inertia change that stops Lloyd (lego). Default 1e-6. */
  tol?: number;
  /** lego: cluster the MSU vectors ('euclidean', default) or their unit vectors ('cosine'). */
  metric?: 'euclidean' | 'cosine';
  /** lego parameter reweighting. Default 'l2'. */
  paramNorm?: 'l2' | 'linf' | 'none';
  /** lego output reweighting. Default 'sqrt_rank_ratio'. */
  outputScale?: 'sqrt_rank_ratio' | 'none' | number;
  /** ties / dare / magnitude_prune: fraction of entries kept, in (0, 1]. Default 0.5. */
  density?: number;
  /** task_arithmetic: λ in λ·Σ w_i ΔW_i. Default 1. */
  lambda?: number;
  /** ties / dare_ties sign election: 'total' (sign of the summed values, default) or 'frequency' (majority of signs). */
  majoritySign?: 'total' | 'frequency';
  /** Randomized truncated SVD of the dense methods: oversampling (default 10) and power iterations (default 2). */
  oversample?: number;
  powerIterations?: number;
  /** The caller already refused NaN/Inf factor values (the pipeline does as it reads them): skip that scan. */
  valuesChecked?: boolean;
}

export interface MergeStats {
  inertia?: number;
  clusterSizes?: number[];
  iterations?: number;
  warnings: string[];
}

/** ΔW' = B'·A' (scaling 1: the written adapter has r = lora_alpha = k). */
export interface MergedModule {
  /** k×dIn, row-major. */
  A: Float32Array;
  /** dOut×k, row-major. */
  B: Float32Array;
  k: number;
  stats: MergeStats;
}
