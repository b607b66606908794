/**
 * What the service holds once warm: the bundles of a root folder, one text encoder per distinct
 * encoder folder, the text models and every denoiser loaded into one InferencePool (inference off
 * the event loop),
 * and the class-embedding cache. A bundle that fails to load (or whose encoder or denoiser does)
 * is reported and left out; the others are served. An absent root is an empty registry.
 */
import { stat } from 'node:fs/promises';
import { ErrorCode, WeightsmithError, invalidInput, isWeightsmithError, notFound } from '@weightsmith/core';
import { InferencePool, type PoolModel } from '@weightsmith/onnx';
import type { ObjectStore } from '@weightsmith/store';
import { ClipTextEncoder, prefixUri, type TextEncoder } from '@weightsmith/text';
import { BundleRegistry, MLP_COSINE_HEAD, type BundleLoadFailure, type BundleRootSource, type LoadedBundle } from '../bundle/index.js';
import { buildCosineHeadGraph, evaluateHead, readEvaluationData, type EvaluationData, type HeadEvaluation, type HeadShape } from '../evaluation/index.js';
import { classEmbeddings } from './condition.js';
import { LruCache } from '../conditioning/index.js';
import { DenoiseBatcher, type BatcherOptions, type BatcherStats } from './batcher.js';
import { poolDenoiser } from './denoiser.js';
import { probeBatchInvariance, type BatchInvariance } from './batch-invariance.js';
import { generate, type GenerationResult } from './generate.js';
import type { SdeditStartPoint } from './enhance.js';
import type { GenerationLimits, GenerationRequest } from './request.js';

export interface T2wRuntimeOptions {
  bundlesDir: string;
  /**
   * Also serve the bundles under this prefix of an object store (one `<prefix><name>/bundle.json`
   * each), and resolve `store:` text encoders there; their files are copied to `cacheDir` once
   * per content, since transformers.js reads tokenizers from a folder.
   */
  storeBundles?: { store: ObjectStore; prefix: string; cacheDir: string };
  limits: GenerationLimits;
  /** onnxruntime intra-op threads for the encoders and each pool worker. */
  intraOpNumThreads: number;
  /** InferencePool worker threads. */
  workerThreads: number;
  /** Class-prompt embeddings kept (default 1024). */
  cacheEntries?: number;
  /** Dynamic batching of concurrent requests' denoiser steps per bundle; absent = each request alone. */
  batching?: Omit<BatcherOptions, 'maxInFlight'>;
}

/** How a bundle's denoiser is run (GET /v1/bundles shows it). */
export interface BundleServing {
  batchInvariance: BatchInvariance;
  /** Concurrent requests share denoiser calls (configured on, and the denoiser's rows are batch-invariant). */
  dynamicBatching: boolean;
}

interface ServedBundle {
  bundle: LoadedBundle;
  encoder: TextEncoder;
  model: PoolModel;
  serving: BundleServing;
  batcher?: DenoiseBatcher;
  evaluation?: { data: EvaluationData; head: HeadShape; model: PoolModel };
}

/** A bundle's evaluation data and the cosine-head scoring graph, when it ships data for a cosine head. */
async function loadEvaluation(pool: InferencePool, bundle: LoadedBundle): Promise<ServedBundle['evaluation']> {
  const arch = bundle.manifest.target.architecture;
  if (bundle.manifest.evaluation === undefined || arch.type !== MLP_COSINE_HEAD) return undefined;
  const head = arch as unknown as HeadShape & { tau: number };
  const data = await readEvaluationData(bundle, head.f);
  const model = await pool.load(buildCosineHeadGraph(head.tau), { name: `${bundle.name}/cosine-head-eval` });
  return { data, head: { f: head.f, h: head.h, e: head.e }, model };
}

export class T2wRuntime {
  readonly failures: BundleLoadFailure[];
  readonly limits: GenerationLimits;
  private readonly served: Map<string, ServedBundle>;
  private readonly pool: InferencePool;
  private readonly encoders: TextEncoder[];
  private readonly cache: LruCache;

  private constructor(f: { served: Map<string, ServedBundle>; pool: InferencePool; encoders: TextEncoder[]; failures: BundleLoadFailure[]; limits: GenerationLimits; cacheEntries: number }) {
    this.served = f.served;
    this.pool = f.pool;
    this.encoders = f.encoders;
    this.failures = f.failures;
    this.limits = f.limits;
    this.cache = new LruCache(f.cacheEntries);
  }

  static async load(o: T2wRuntimeOptions): Promise<T2wRuntime> {
    const session = { intraOpNumThreads: o.intraOpNumThreads };
    const rootExists = (await stat(o.bundlesDir).catch(() => undefined))?.isDirectory() ?? false;
    const roots: BundleRootSource[] = [
      ...(rootExists ? [{ dir: o.bundlesDir }] : []),
      ...(o.storeBundles ? [{ store: o.storeBundles.store, prefix: o.storeBundles.prefix }] : []),
    ];
    // Folder bundles first: a store bundle reusing one of their names is the one reported.
    const { registry, failures } = await BundleRegistry.loadRoot(roots, { session, ...(o.storeBundles ? { textStore: o.storeBundles.store } : {}) });
    const pool = new InferencePool({ threads: o.workerThreads, ...session });
    const encoders = new Map<string, TextEncoder>();
    const served = new Map<string, ServedBundle>();
    try {
      for (const bundle of registry.list()) {
        try {
          const ref = bundle.textEncoder;
          const key = 'dir' in ref ? ref.dir : prefixUri(ref.store, ref.prefix);
          let encoder = encoders.get(key);
          if (encoder === undefined) {
            if ('dir' in ref) encoder = await ClipTextEncoder.fromFolder(ref.dir, { ...session, pool });
            else if (o.storeBundles) encoder = await ClipTextEncoder.fromStore(ref.store, ref.prefix, { ...session, pool, cacheDir: o.storeBundles.cacheDir });
            else throw new WeightsmithError(ErrorCode.InvalidFormat, `bundle ${bundle.location}: its text encoder is in an object store, but no store bundles are configured`, { field: 'bundle.json.text.encoder' });
            encoders.set(key, encoder);
          }
          const model = await pool.load(bundle.denoiserBytes, { name: `${bundle.name}/${bundle.manifest.denoiser.file}` });
          const { parameterCount: P, condDim: E } = bundle.manifest.denoiser;
          const batchInvariance = await probeBatchInvariance(poolDenoiser(pool, model, bundle.manifest), { P, E, timesteps: bundle.manifest.diffusion.timesteps });
          const padSingleRows = batchInvariance === 'two-or-more-rows';
          const batcher =
            o.batching && batchInvariance !== 'none'
              ? new DenoiseBatcher(poolDenoiser(pool, model, bundle.manifest, { padSingleRows }), { P, E }, { ...o.batching, maxInFlight: o.workerThreads })
              : undefined;
          const evaluation = await loadEvaluation(pool, bundle);
          const serving = { batchInvariance, dynamicBatching: batcher !== undefined };
          served.set(bundle.name, { bundle, encoder, model, serving, ...(batcher ? { batcher } : {}), ...(evaluation ? { evaluation } : {}) });
        } catch (err) {
          const error = isWeightsmithError(err) ? err : new WeightsmithError(ErrorCode.InvalidFormat, `bundle ${bundle.location} could not be served: ${(err as Error).message}`, { cause: err });
          failures.push({ location: bundle.location, error });
        }
      }
    } catch (err) {
      await Promise.allSettled([...encoders.values()].map((e) => e.close()));
      await pool.close({ force: true });
      throw err;
    }
    return new T2wRuntime({ served, pool, encoders: [...encoders.values()], failures, limits: o.limits, cacheEntries: o.cacheEntries ?? 1024 });
  }

  /** Served bundles in name order. */
  bundles(): LoadedBundle[] {
    return [...this.served.keys()].sort().map((n) => this.served.get(n)!.bundle);
  }

  /** How the bundle's denoiser is run; `field` names where the name came from, for the 404. */
  serving(name: string, field = 'bundle'): BundleServing {
    return { ...this.entry(name, field).serving };
  }

  /** `field` names where the name came from, for the 404. */
  bundle(name: string, field = 'bundle'): LoadedBundle {
    return this.entry(name, field).bundle;
  }

  /** With `startFrom`, an SDEdit run (enhancements, fusions) from those normalised weights. */
  async generate(
    name: string,
    req: GenerationRequest,
    opts: { signal?: AbortSignal; onStep?: (done: number, total: number) => void; startFrom?: SdeditStartPoint } = {},
  ): Promise<GenerationResult> {
    const { bundle, encoder, model, batcher, serving } = this.entry(name, 'body.bundle');
    const padSingleRows = serving.batchInvariance === 'two-or-more-rows';
    return generate({
      ...req,
      bundle,
      encoder,
      runDenoiser: batcher ? batcher.denoiser(opts.signal) : poolDenoiser(this.pool, model, bundle.manifest, { padSingleRows, ...(opts.signal ? { signal: opts.signal } : {}) }),
      limits: this.limits,
      cache: this.cache,
      ...(opts.onStep ? { onStep: opts.onStep } : {}),
      ...(opts.startFrom ? { startFrom: opts.startFrom } : {}),
    });
  }

  /**
   * Accuracy of a head (flat, layout order) on the bundle's evaluation data for a task. Bundles
   * without evaluation data, or whose target is not a cosine head, refuse with `field`.
   */
  async evaluate(name: string, weights: Float32Array, classes: readonly string[] | undefined, field = 'body.bundle'): Promise<HeadEvaluation> {
    const { bundle, encoder } = this.entry(name, field);
    const evaluation = this.evaluationOf(name, field);
    const task = classes ?? evaluation.data.classes;
    return evaluateHead({
      data: evaluation.data,
      shape: evaluation.head,
      weights,
      classes: task,
      classEmbeddings: await classEmbeddings(bundle.manifest, encoder, task, this.cache),
      run: (feeds) => this.pool.run(evaluation.model, feeds),
    });
  }

  /** The bundle's evaluation data and scoring model; a bundle without them is refused naming `field`. */
  evaluationOf(name: string, field = 'body.bundle'): NonNullable<ServedBundle['evaluation']> {
    const { evaluation } = this.entry(name, field);
    if (evaluation === undefined) {
      throw invalidInput(field, `bundle "${name}" ships no evaluation data for a ${MLP_COSINE_HEAD} target, so it cannot score heads`);
    }
    return evaluation;
  }

  /** Denoiser calls, rows and request steps per bundle since start (dynamic batching only). */
  batchingStats(): Record<string, BatcherStats> {
    const out: Record<string, BatcherStats> = {};
    for (const [name, s] of this.served) if (s.batcher) out[name] = s.batcher.stats();
    return out;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.encoders.map((e) => e.close()));
    await this.pool.close();
  }

  private entry(name: string, field: string): ServedBundle {
    const s = this.served.get(name);
    if (s === undefined) throw notFound(`no bundle named "${name}"; loaded: ${[...this.served.keys()].sort().join(', ') || 'none'}`, field);
    return s;
  }
}
