/**
 * Fits an AdaFusion model (or one of the baselines, through the same path) on a cohort:
 *
 *  1. split the training ids into train / validation (seeded, stratified for classification);
 *  2. closed-form compress & align on a paired sample of training tiles (PCA → Procrustes);
 *  3. compress every slide once, keeping at most `poolTilesPerSlide` seeded tiles per slide;
 *  4. phenotype prompts (centroids / learned / text);
 *  5. train gate + head (+ prompts, projection, learned compression) with tfjs on the wasm
 *     backend: Adam with decoupled weight decay (AdamW), cross-entropy over slide bags or MSE over
 *     tiles, `tilesPerStep` tiles per slide per step, early stopping on the validation loss with
 *     the best weights kept.
 *
 * Deterministic: every random choice comes from `Rng(seed)` forks, the wasm backend runs
 * single-threaded, so the same cohort, ids, config and seed give the same parameter bytes.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';
import { Rng, concatF32 } from '@weightsmith/tensor';
import type { TextEncoder } from '@weightsmith/text';
import type { AlignedSlide, Cohort, ModelSpec } from '../types.js';
import { parseFitConfig, type FitConfig, type FitConfigInput } from './config.js';
import { fitClosedForm, type AffineMap } from './compress.js';
import { centroidPrompts, encodeTextPrompts, learnedPromptInit } from './context.js';
import { paramNames as N, type ParamMap } from './params.js';
import { collectPairedSample, poolSlides, sampleIndices, throwIfAborted, type PooledSlide } from './pool.js';
import { splitTrainVal } from './split.js';
import { compressTf, forwardTf, type GraphSpec } from './tf-graph.js';
import { tfReady, tf } from './tf-backend.js';
import type { EpochRecord, FitProgress, FittedFusionModel } from './types.js';
import { balancedAccuracy, perGenePearson } from '../eval/metrics.js';

export interface FitOptions {
  textEncoder?: TextEncoder;
  onProgress?: (p: FitProgress) => void;
  signal?: AbortSignal;
}

type Tensor = tfTypes.Tensor;
type Variable = tfTypes.Variable;

/** Off-bag entries of the attention bias: exp(−1e9) is exactly 0 in float32. */
const OFF_BAG = -1e9;

interface TaskInfo {
  kind: 'classification' | 'regression';
  classes?: string[];
  genes?: string[];
  /** Classification: id → class. */
  labelOf?: ReadonlyMap<string, number>;
  /** Regression: id → n × G targets. */
  targetsOf?: ReadonlyMap<string, Float32Array>;
}

/** Chooses the models a mode uses and the anchor among them. */
function resolveModels(models: ModelSpec[], config: FitConfig): { used: number[]; anchor: number } {
  const index = (name: string, field: string): number => {
    const i = models.findIndex((m) => m.name === name);
    if (i < 0) throw invalidInput(field, `'${name}' is not a model of the cohort (${models.map((m) => m.name).join(', ')})`);
    return i;
  };
  if (config.mode === 'single') {
    const m = index(config.model!, 'config.model');
    return { used: [m], anchor: 0 };
  }
  const used = models.map((_, i) => i);
  const anchor = config.anchor === undefined ? 0 : index(config.anchor, 'config.anchor');
  return { used, anchor };
}

function checkTrainIds(cohort: Cohort, trainIds: readonly string[], task: TaskInfo): void {
  if (!Array.isArray(trainIds)) throw invalidInput('trainIds', 'trainIds must be an array of slide ids');
  const known = new Set(cohort.slideIds);
  const seen = new Set<string>();
  for (const id of trainIds) {
    if (!known.has(id)) throw invalidInput('trainIds', `slide '${id}' is not in the cohort`);
    if (seen.has(id)) throw invalidInput('trainIds', `slide '${id}' appears twice in trainIds`);
    seen.add(id);
    if (task.kind === 'classification' && !task.labelOf!.has(id)) throw invalidInput('trainIds', `slide '${id}' has no label`);
    if (task.kind === 'regression' && !task.targetsOf!.has(id)) throw invalidInput('trainIds', `slide '${id}' has no tile targets`);
  }
}

function taskOf(cohort: Cohort): TaskInfo {
  const labels = cohort.labels;
  if (labels.kind === 'classification') {
    if (labels.classes.length < 2) throw invalidInput('labels', `classification needs at least 2 classes, got ${labels.classes.length}`);
    return { kind: 'classification', classes: [...labels.classes], labelOf: labels.bySlide };
  }
  if (labels.genes.length < 1) throw invalidInput('labels', 'regression needs at least one target (gene)');
  return { kind: 'regression', genes: [...labels.genes], targetsOf: labels.bySlide };
}

/** Glorot-uniform F32 values from the fit's Rng (tfjs's initialisers would use their own RNG). */
function glorot(rng: Rng, fanIn: number, fanOut: number, count = fanIn * fanOut): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return rng.uniformF32Array(count, -limit, limit);
}

function identity(d: number): Float32Array {
  const a = new Float32Array(d * d);
  for (let i = 0; i < d; i++) a[i * d + i] = 1;
  return a;
}

interface InitResult {
  params: ParamMap;
  /** Names of the trainable parameters. */
  trainable: string[];
  /** Names the decoupled weight decay applies to (weight matrices). */
  decayed: string[];
}

function initialParams(
  config: FitConfig,
  task: TaskInfo,
  used: number[],
  models: ModelSpec[],
  maps: AffineMap[],
  prompts: { kind: 'fixed' | 'learned'; data: Float32Array; count: number } | { kind: 'text'; embeddings: Float32Array; count: number; dim: number },
  rng: Rng,
): InitResult {
  const d = config.d;
  const Mu = used.length;
  const F = config.mode === 'concat' ? Mu * d : d;
  const params: ParamMap = {};
  const trainable: string[] = [];
  const decayed: string[] = [];
  const add = (name: string, shape: number[], data: Float32Array, train: boolean, decay = false): void => {
    params[name] = { shape, data };
    if (train) trainable.push(name);
    if (train && decay) decayed.push(name);
  };
  const learnedCompression = config.compression === 'learned';
  used.forEach((m, i) => {
    add(N.compressWeight(m), [models[m]!.dim, d], maps[i]!.weight, learnedCompression, true);
    add(N.compressBias(m), [d], maps[i]!.bias, learnedCompression);
    if (learnedCompression) {
      add(N.lnScale(m), [d], new Float32Array(d).fill(1), true);
      add(N.lnBias(m), [d], new Float32Array(d), true);
    }
  });
  const gated = config.mode === 'adafusion';
  if (prompts.kind === 'text') {
    add(N.textEmbeddings, [prompts.count, prompts.dim], prompts.embeddings, false);
    add(N.promptProjWeight, [prompts.dim, d], glorot(rng.fork('prompt_proj'), prompts.dim, d), gated, true);
    add(N.promptProjBias, [d], new Float32Array(d), gated);
  } else {
    add(N.prompts, [prompts.count, d], prompts.data, gated && prompts.kind === 'learned');
  }
  // q starts as the identity: the context is then the soft nearest prompt of z̄.
  add(N.qWeight, [d, d], identity(d), gated, true);
  add(N.qBias, [d], new Float32Array(d), gated);
  if (gated) {
    add(N.gateWq, [d, d], glorot(rng.fork('gate.wq'), d, d), true, true);
    add(N.gateWk, [d, d], glorot(rng.fork('gate.wk'), d, d), true, true);
    add(N.gateBias, config.gate === 'model' ? [Mu] : [Mu, d], new Float32Array(config.gate === 'model' ? Mu : Mu * d), true);
    // The closed-form alignment maps every model's tiles of one phenotype to nearly the same
    // codes, so ⟨c Wq, z Wk⟩ alone cannot tell the models apart, and a scalar bias per model
    // cannot depend on the phenotype. A per-model offset of the key input (a model embedding,
    // as position embeddings are for tokens) gives the phenotype × model term ⟨c Wq, βₘ Wk⟩.
    add(N.gateKeyOffset, [Mu, d], new Float32Array(Mu * d), true);
  }
  if (task.kind === 'classification') {
    const H = config.head.hidden;
    const C = task.classes!.length;
    add(N.attnV, [F, H], glorot(rng.fork('attn.v'), F, H), true, true);
    add(N.attnVBias, [H], new Float32Array(H), true);
    add(N.attnU, [F, H], glorot(rng.fork('attn.u'), F, H), true, true);
    add(N.attnUBias, [H], new Float32Array(H), true);
    add(N.attnW, [H], glorot(rng.fork('attn.w'), H, 1), true, true);
    add(N.classifierWeight, [F, C], glorot(rng.fork('classifier'), F, C), true, true);
    add(N.classifierBias, [C], new Float32Array(C), true);
  } else {
    const G = task.genes!.length;
    add(N.regressorWeight, [F, G], glorot(rng.fork('regressor'), F, G), true, true);
    add(N.regressorBias, [G], new Float32Array(G), true);
  }
  return { params, trainable, decayed };
}

/** Mean and std (floored) of each target column over the training tiles. */
function targetStats(pooled: readonly PooledSlide[], G: number): { mean: Float64Array; std: Float64Array } {
  const mean = new Float64Array(G);
  const sq = new Float64Array(G);
  let n = 0;
  for (const s of pooled) {
    for (let t = 0; t < s.n; t++) {
      for (let g = 0; g < G; g++) {
        const v = s.targets![t * G + g]!;
        mean[g] = mean[g]! + v;
        sq[g] = sq[g]! + v * v;
      }
    }
    n += s.n;
  }
  const std = new Float64Array(G);
  for (let g = 0; g < G; g++) {
    mean[g] = mean[g]! / n;
    const v = Math.max(sq[g]! / n - mean[g]! ** 2, 0);
    std[g] = Math.sqrt(v) > 1e-8 ? Math.sqrt(v) : 1;
  }
  return { mean, std };
}

interface Batch {
  /** T × Mu × d */
  z: Float32Array;
  /** Learned compression: T × dₘ per used model. */
  raw?: Float32Array[];
  T: number;
  bags: number;
  /** bags × T */
  bagBias?: Float32Array;
  /** bags × C one-hot */
  onehot?: Float32Array;
  labels?: number[];
  /** T × G standardised */
  targets?: Float32Array;
}

function makeBatch(
  slides: readonly PooledSlide[],
  picks: readonly (readonly number[])[],
  Mu: number,
  d: number,
  dims: readonly number[],
  task: TaskInfo,
  stats: { mean: Float64Array; std: Float64Array } | undefined,
): Batch {
  const T = picks.reduce((a, p) => a + p.length, 0);
  const row = Mu * d;
  const z = new Float32Array(T * row);
  const raw = slides[0]!.raw ? dims.map((dim) => new Float32Array(T * dim)) : undefined;
  const batch: Batch = { z, T, bags: slides.length };
  if (raw) batch.raw = raw;
  let at = 0;
  if (task.kind === 'classification') {
    const C = task.classes!.length;
    batch.bagBias = new Float32Array(slides.length * T).fill(OFF_BAG);
    batch.onehot = new Float32Array(slides.length * C);
    batch.labels = [];
    slides.forEach((s, b) => {
      batch.onehot![b * C + s.label!] = 1;
      batch.labels!.push(s.label!);
      batch.bagBias!.fill(0, b * T + at, b * T + at + picks[b]!.length);
      for (const t of picks[b]!) {
        z.set(s.z.subarray(t * row, (t + 1) * row), at * row);
        raw?.forEach((r, i) => r.set(s.raw![i]!.subarray(t * dims[i]!, (t + 1) * dims[i]!), at * dims[i]!));
        at++;
      }
    });
  } else {
    const G = task.genes!.length;
    batch.targets = new Float32Array(T * G);
    slides.forEach((s, b) => {
      for (const t of picks[b]!) {
        z.set(s.z.subarray(t * row, (t + 1) * row), at * row);
        raw?.forEach((r, i) => r.set(s.raw![i]!.subarray(t * dims[i]!, (t + 1) * dims[i]!), at * dims[i]!));
        for (let g = 0; g < G; g++) batch.targets![at * G + g] = (s.targets![t * G + g]! - stats!.mean[g]!) / stats!.std[g]!;
        at++;
      }
    });
  }
  return batch;
}

/** Mean (1 − cos) over tiles and model pairs of the compressed codes (learned compression). */
function alignmentLoss(codes: Tensor[]): Tensor {
  const unit = codes.map((c) => tf.div(c, tf.add(tf.norm(c, 'euclidean', 1, true), 1e-6)));
  const terms: Tensor[] = [];
  for (let i = 0; i < unit.length; i++) for (let j = i + 1; j < unit.length; j++) terms.push(tf.sub(1, tf.mean(tf.sum(tf.mul(unit[i]!, unit[j]!), 1))));
  return terms.length === 0 ? tf.scalar(0) : tf.div(tf.addN(terms), terms.length);
}

interface StepResult {
  loss: Tensor;
  logits?: Tensor;
  prediction?: Tensor;
}

function batchLoss(spec: GraphSpec, config: FitConfig, lookup: (name: string) => Tensor, batch: Batch, dims: readonly number[], withPenalties: boolean): StepResult {
  const Mu = spec.used.length;
  const d = spec.d;
  let z: Tensor;
  let align: Tensor | undefined;
  if (batch.raw) {
    const xs = batch.raw.map((r, i) => tf.tensor2d(r, [batch.T, dims[i]!]));
    const c = compressTf(spec, lookup, xs);
    z = c.z;
    if (withPenalties && config.alignmentWeight > 0 && Mu > 1) align = tf.mul(alignmentLoss(c.codes), config.alignmentWeight);
  } else {
    z = tf.tensor3d(batch.z, [batch.T, Mu, d]);
  }
  const bagBias = batch.bagBias ? tf.tensor2d(batch.bagBias, [batch.bags, batch.T]) : undefined;
  const out = forwardTf(spec, lookup, z, bagBias);
  let loss: Tensor;
  const result: StepResult = { loss: tf.scalar(0) };
  if (spec.task === 'classification') {
    const C = batch.onehot!.length / batch.bags;
    loss = tf.losses.softmaxCrossEntropy(tf.tensor2d(batch.onehot!, [batch.bags, C]), out.logits!);
    result.logits = out.logits!;
  } else {
    const G = batch.targets!.length / batch.T;
    loss = tf.mean(tf.square(tf.sub(out.prediction!, tf.tensor2d(batch.targets!, [batch.T, G]))));
    result.prediction = out.prediction!;
    if (withPenalties && config.head.regression === 'ridge' && config.head.lambda > 0) {
      loss = tf.add(loss, tf.mul(tf.sum(tf.square(lookup(N.regressorWeight))), config.head.lambda));
    }
  }
  if (align) loss = tf.add(loss, align);
  result.loss = loss;
  return result;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function fitFusionModel(cohort: Cohort, trainIds: string[], configInput: FitConfigInput | FitConfig, opts: FitOptions = {}): Promise<FittedFusionModel> {
  const config = parseFitConfig(configInput);
  const { signal } = opts;
  throwIfAborted(signal);
  const task = taskOf(cohort);
  checkTrainIds(cohort, trainIds, task);
  const { used, anchor } = resolveModels(cohort.models, config);
  const models = cohort.models.map((m) => ({ name: m.name, dim: m.dim }));
  const dims = used.map((m) => models[m]!.dim);
  const Mu = used.length;
  const d = config.d;
  for (const m of used) {
    if (d > models[m]!.dim) throw invalidInput('config.d', `d = ${d} exceeds the feature dim of model '${models[m]!.name}' (${models[m]!.dim}); choose d ≤ ${models[m]!.dim}`);
  }
  const root = new Rng(config.seed);

  // 1. split.
  const split = splitTrainVal(trainIds, config.valFraction, root.fork('split'), task.labelOf);

  // 2. closed-form compression on training slides only.
  const sample = await collectPairedSample(cohort, split.train, used, config.pcaSampleTiles, root.fork('pca-sample'), signal);
  if (sample.n <= d) throw invalidInput('config.d', `compressing to d = ${d} needs more than ${d} training tiles; the training slides have ${sample.n}`);
  const closed = await fitClosedForm(sample.samples, sample.n, dims, {
    d,
    whiten: config.whiten,
    anchor: Mu === 1 ? 0 : anchor,
    seed: root.fork('pca').key,
  });
  sample.samples.length = 0;

  // 3. pooled, compressed slides.
  const attach = (slide: AlignedSlide, idx: readonly number[], pooled: PooledSlide): void => {
    if (task.kind === 'classification') {
      pooled.label = task.labelOf!.get(slide.id)!;
      return;
    }
    const G = task.genes!.length;
    const all = task.targetsOf!.get(slide.id)!;
    if (all.length !== slide.n * G) {
      throw new WeightsmithError(ErrorCode.ShapeMismatch, `slide '${slide.id}': ${all.length} target values, expected ${slide.n} tiles × ${G} genes`, { field: `labels.${slide.id}` });
    }
    const targets = new Float32Array(idx.length * G);
    idx.forEach((t, r) => {
      for (let g = 0; g < G; g++) {
        const v = all[t * G + g]!;
        if (v - v !== 0) throw new WeightsmithError(ErrorCode.NonFinite, `slide '${slide.id}' tile ${t} target ${task.genes![g]} is ${v}`, { field: `labels.${slide.id}` });
        targets[r * G + g] = v;
      }
    });
    pooled.targets = targets;
  };
  const poolOpts = {
    used,
    maps: closed.maps,
    d,
    tilesPerSlide: config.poolTilesPerSlide,
    keepRaw: config.compression === 'learned',
    rng: root.fork('pool'),
    attach,
    ...(signal ? { signal } : {}),
  };
  const train = await poolSlides(cohort, split.train, poolOpts);
  const val = await poolSlides(cohort, split.val, poolOpts);

  // 4. prompts.
  let prompts: Parameters<typeof initialParams>[5];
  const ctx = config.context;
  if (ctx.kind === 'centroids') {
    prompts = { kind: 'fixed', count: ctx.count, data: await centroidPrompts(train, Mu, d, ctx.count, config.kmeansSampleTiles, root.fork('centroids')) };
  } else if (ctx.kind === 'learned') {
    prompts = { kind: 'learned', count: ctx.count, data: learnedPromptInit(train, Mu, d, ctx.count, root.fork('learned-prompts')) };
  } else {
    const enc = await encodeTextPrompts(opts.textEncoder, ctx.prompts);
    prompts = { kind: 'text', count: ctx.prompts.length, dim: enc.dim, embeddings: enc.embeddings };
  }

  const stats = task.kind === 'regression' ? targetStats(train, task.genes!.length) : undefined;
  const init = initialParams(config, task, used, models, closed.maps, prompts, root.fork('init'));

  // 5. training.
  const spec: GraphSpec = {
    mode: config.mode,
    gate: config.gate,
    task: task.kind,
    used,
    d,
    tau: config.tau,
    textPrompts: ctx.kind === 'text',
    learnedCompression: config.compression === 'learned',
  };
  const trained = await train_(spec, config, task, init, train, val, dims, stats, root.fork('train'), opts);

  // Final parameters: best snapshot, targets back in their units, effective text prompts.
  const params: ParamMap = {};
  for (const [name, p] of Object.entries(init.params)) params[name] = { shape: [...p.shape], data: trained.best.get(name) ?? p.data };
  if (stats) foldTargetScaling(params, stats, task.genes!.length, config.mode === 'concat' ? Mu * d : d);
  if (ctx.kind === 'text') params[N.prompts] = { shape: [ctx.prompts.length, d], data: effectiveTextPrompts(params, ctx.prompts.length, prompts.kind === 'text' ? prompts.dim : 0, d) };

  const result: FittedFusionModel = {
    config,
    models,
    usedModels: used,
    task: task.kind,
    params,
    history: trained.history,
    validation: {
      loss: trained.bestRecord.valLoss,
      metric: trained.bestRecord.valMetric,
      metricName: task.kind === 'classification' ? 'balanced_accuracy' : 'pearson_r',
      epoch: trained.bestRecord.epoch,
    },
    split,
  };
  if (task.classes) result.classes = task.classes;
  if (task.genes) result.genes = task.genes;
  return result;
}

/** pred = (f W + b) σ + μ  ⇒  W' = W diag(σ), b' = b σ + μ. */
function foldTargetScaling(params: ParamMap, stats: { mean: Float64Array; std: Float64Array }, G: number, F: number): void {
  const w = params[N.regressorWeight]!.data;
  const b = params[N.regressorBias]!.data;
  const w2 = new Float32Array(F * G);
  const b2 = new Float32Array(G);
  for (let i = 0; i < F; i++) for (let g = 0; g < G; g++) w2[i * G + g] = w[i * G + g]! * stats.std[g]!;
  for (let g = 0; g < G; g++) b2[g] = b[g]! * stats.std[g]! + stats.mean[g]!;
  params[N.regressorWeight] = { shape: [F, G], data: w2 };
  params[N.regressorBias] = { shape: [G], data: b2 };
}

function effectiveTextPrompts(params: ParamMap, P: number, E: number, d: number): Float32Array {
  const e = params[N.textEmbeddings]!.data;
  const w = params[N.promptProjWeight]!.data;
  const b = params[N.promptProjBias]!.data;
  const out = new Float32Array(P * d);
  for (let k = 0; k < P; k++) {
    for (let j = 0; j < d; j++) {
      let s = b[j]!;
      for (let i = 0; i < E; i++) s += e[k * E + i]! * w[i * d + j]!;
      out[k * d + j] = s;
    }
  }
  return out;
}

interface TrainResult {
  best: Map<string, Float32Array>;
  history: EpochRecord[];
  bestRecord: EpochRecord;
}

async function train_(
  spec: GraphSpec,
  config: FitConfig,
  task: TaskInfo,
  init: InitResult,
  train: PooledSlide[],
  val: PooledSlide[],
  dims: readonly number[],
  stats: { mean: Float64Array; std: Float64Array } | undefined,
  rng: Rng,
  opts: FitOptions,
): Promise<TrainResult> {
  await tfReady();
  const { optimizer: o } = config;
  const Mu = spec.used.length;
  const d = spec.d;
  const vars = new Map<string, Variable>();
  const consts = new Map<string, Tensor>();
  for (const [name, p] of Object.entries(init.params)) {
    if (init.trainable.includes(name)) vars.set(name, tf.variable(tf.tensor(p.data, p.shape), true, `${name}`));
    else consts.set(name, tf.tensor(p.data, p.shape));
  }
  const lookup = (name: string): Tensor => {
    const t = vars.get(name) ?? consts.get(name);
    if (t === undefined) throw new WeightsmithError(ErrorCode.Internal, `the training graph has no tensor '${name}'`);
    return t;
  };
  const optimizer = tf.train.adam(o.lr);
  const varList = [...vars.values()];
  const decayed = init.decayed.map((n) => vars.get(n)!).filter((v) => v !== undefined);
  // Decoupled weight decay (AdamW, Loshchilov & Hutter 2019): tfjs has no AdamW, so after each Adam
  // step (gradients from tfjs autodiff) the weight matrices shrink by lr·weightDecay directly.
  const decay = 1 - o.lr * o.weightDecay;

  // Validation tiles: fixed once, so validation losses of different epochs are comparable.
  const valRng = rng.fork('val-tiles');
  const valPicks = val.map((s) => sampleIndices(valRng.fork(s.id), s.n, o.tilesPerStep));
  const stepsPerEpoch = o.stepsPerEpoch ?? Math.ceil(train.length / o.slidesPerStep);
  const perStep = Math.min(o.slidesPerStep, train.length);
  const orderRng = rng.fork('order');
  const tileRng = rng.fork('tiles');
  let order: number[] = [];
  let cursor = 0;
  const nextSlides = (): PooledSlide[] => {
    const out: PooledSlide[] = [];
    const taken = new Set<number>();
    while (out.length < perStep) {
      if (cursor >= order.length) {
        order = orderRng.shuffle(Array.from({ length: train.length }, (_, i) => i));
        cursor = 0;
      }
      const i = order[cursor++]!;
      if (taken.has(i)) continue;
      taken.add(i);
      out.push(train[i]!);
    }
    return out;
  };

  const snapshot = (): Map<string, Float32Array> => {
    const m = new Map<string, Float32Array>();
    for (const [name, v] of vars) m.set(name, Float32Array.from(v.dataSync() as Float32Array));
    return m;
  };

  const history: EpochRecord[] = [];
  let best = snapshot();
  let bestRecord: EpochRecord | undefined;
  let sinceBest = 0;
  try {
    for (let epoch = 1; epoch <= o.maxEpochs; epoch++) {
      let lossSum = 0;
      for (let step = 0; step < stepsPerEpoch; step++) {
        throwIfAborted(opts.signal);
        const slides = nextSlides();
        const picks = slides.map((s) => sampleIndices(tileRng, s.n, o.tilesPerStep));
        const batch = makeBatch(slides, picks, Mu, d, dims, task, stats);
        const lossT = tf.tidy(() => optimizer.minimize(() => batchLoss(spec, config, lookup, batch, dims, true).loss as tfTypes.Scalar, true, varList)!);
        const loss = (await lossT.data())[0]!;
        lossT.dispose();
        if (!Number.isFinite(loss)) {
          throw new WeightsmithError(
            ErrorCode.NonFinite,
            `the training loss became ${loss} at epoch ${epoch}, step ${step + 1}: lower optimizer.lr (now ${o.lr}` +
              `${o.weightDecay > 0 ? `, with weightDecay ${o.weightDecay} each step scales weights by ${decay.toPrecision(3)}` : ''})`,
            { field: 'optimizer.lr' },
          );
        }
        if (decay !== 1 && decayed.length > 0) tf.tidy(() => decayed.forEach((v) => v.assign(tf.mul(v, decay))));
        lossSum += loss;
        await yieldToEventLoop();
      }
      const trainLoss = lossSum / stepsPerEpoch;
      const { loss: valLoss, metric: valMetric } = evaluate(spec, config, task, lookup, val, valPicks, dims, Mu, d, stats);
      if (!Number.isFinite(valLoss)) {
        throw new WeightsmithError(ErrorCode.NonFinite, `the validation loss became ${valLoss} at epoch ${epoch}: lower optimizer.lr (now ${o.lr})`, { field: 'optimizer.lr' });
      }
      const record: EpochRecord = { epoch, trainLoss, valLoss, valMetric };
      history.push(record);
      if (bestRecord === undefined || valLoss < bestRecord.valLoss) {
        bestRecord = record;
        best = snapshot();
        sinceBest = 0;
      } else {
        sinceBest++;
      }
      opts.onProgress?.({ epoch, maxEpochs: o.maxEpochs, trainLoss, valLoss, valMetric });
      if (sinceBest >= o.patience) break;
    }
  } finally {
    optimizer.dispose();
    for (const v of vars.values()) v.dispose();
    for (const c of consts.values()) c.dispose();
  }
  return { best, history, bestRecord: bestRecord! };
}

function evaluate(
  spec: GraphSpec,
  config: FitConfig,
  task: TaskInfo,
  lookup: (name: string) => Tensor,
  val: PooledSlide[],
  picks: number[][],
  dims: readonly number[],
  Mu: number,
  d: number,
  stats: { mean: Float64Array; std: Float64Array } | undefined,
): { loss: number; metric: number } {
  const per = config.optimizer.slidesPerStep;
  let lossSum = 0;
  let weight = 0;
  const truth: number[] = [];
  const predicted: number[] = [];
  const preds: Float32Array[] = [];
  const targets: Float32Array[] = [];
  for (let at = 0; at < val.length; at += per) {
    const slides = val.slice(at, at + per);
    const batch = makeBatch(slides, picks.slice(at, at + per), Mu, d, dims, task, stats);
    const { loss, out } = tf.tidy(() => {
      const r = batchLoss(spec, config, lookup, batch, dims, false);
      return { loss: r.loss.dataSync()[0]!, out: (r.logits ?? r.prediction)!.dataSync() as Float32Array };
    });
    const w = task.kind === 'classification' ? batch.bags : batch.T;
    lossSum += loss * w;
    weight += w;
    if (task.kind === 'classification') {
      const C = task.classes!.length;
      batch.labels!.forEach((label, b) => {
        truth.push(label);
        let arg = 0;
        for (let c = 1; c < C; c++) if (out[b * C + c]! > out[b * C + arg]!) arg = c;
        predicted.push(arg);
      });
    } else {
      preds.push(Float32Array.from(out));
      targets.push(batch.targets!);
    }
  }
  const loss = lossSum / weight;
  if (task.kind === 'classification') return { loss, metric: balancedAccuracy(predicted, truth, task.classes!.length) };
  const G = task.genes!.length;
  const p = concatF32(preds);
  return { loss, metric: perGenePearson(p, concatF32(targets), p.length / G, G).mean };
}
