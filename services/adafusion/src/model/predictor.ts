/**
 * Runs an exported fusion model on aligned slides with onnxruntime.
 *
 * With `pool` the run happens on an InferencePool worker (servers: `session.run()` blocks the
 * thread that calls it); without, in this thread through one session (CLIs, benchmarks, tests).
 */
import { ErrorCode, WeightsmithError, invalidFormat, invalidInput } from '@weightsmith/core';
import {
  createSession,
  fromOrtTensor,
  onnx,
  toOrtTensor,
  type InferencePool,
  type PoolModel,
  type TensorData,
  type TensorMap,
} from '@weightsmith/onnx';
import type { AlignedSlide } from '../types.js';
import { exportFusionOnnx, ONNX_METADATA_KEY, type FusionOnnxMetadata } from './onnx-export.js';
import type { FittedFusionModel } from './types.js';

export interface SlidePrediction {
  /** n × fusedWidth */
  fused: Float32Array;
  fusedWidth: number;
  /** n × M: each tile's weight per cohort model (contribution scores). */
  alpha: Float32Array;
  /** n × M × d (per-channel gate only). */
  alphaChannels?: Float32Array;
  /** n × P: each tile's phenotype-prompt softmax. */
  contextWeights: Float32Array;
  /** n (classification): ABMIL attention over the slide's tiles. */
  attention?: Float32Array;
  /** C (classification) */
  logits?: Float32Array;
  probs?: Float32Array;
  /** n × G (regression), in target units. */
  prediction?: Float32Array;
}

export interface PredictorOptions {
  pool?: InferencePool;
  /** MLAS threads of the in-thread session (no pool). Default 2. */
  intraOpNumThreads?: number;
}

type Session = Awaited<ReturnType<typeof createSession>>;

/** Reads the metadata an export wrote; invalid_format when the bytes are not such an export. */
export function readFusionOnnxMetadata(bytes: Uint8Array): FusionOnnxMetadata {
  let proto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new WeightsmithError(ErrorCode.InvalidFormat, `the bytes are not an ONNX model: ${(err as Error).message}`, { field: 'onnx', cause: err });
  }
  const entry = proto.metadataProps?.find((p) => p.key === ONNX_METADATA_KEY);
  if (!entry?.value) throw invalidFormat(`the ONNX model has no '${ONNX_METADATA_KEY}' metadata; it was not exported by exportFusionOnnx`, 'onnx');
  try {
    return JSON.parse(entry.value) as FusionOnnxMetadata;
  } catch (err) {
    throw new WeightsmithError(ErrorCode.InvalidFormat, `the '${ONNX_METADATA_KEY}' metadata is not JSON`, { field: 'onnx', cause: err });
  }
}

function softmax(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const out = new Float32Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / sum;
  return out;
}

export class FusionPredictor {
  readonly metadata: FusionOnnxMetadata;
  private readonly session: Session | undefined;
  private readonly pool: InferencePool | undefined;
  private readonly poolModel: PoolModel | undefined;
  private closed = false;

  private constructor(metadata: FusionOnnxMetadata, session: Session | undefined, pool: InferencePool | undefined, poolModel: PoolModel | undefined) {
    this.metadata = metadata;
    this.session = session;
    this.pool = pool;
    this.poolModel = poolModel;
  }

  static async load(source: Uint8Array | FittedFusionModel, opts: PredictorOptions = {}): Promise<FusionPredictor> {
    const bytes = source instanceof Uint8Array ? source : exportFusionOnnx(source);
    const metadata = readFusionOnnxMetadata(bytes);
    if (opts.pool) {
      const model = await opts.pool.load(bytes, { name: `adafusion-${metadata.mode}` });
      return new FusionPredictor(metadata, undefined, opts.pool, model);
    }
    const session = await createSession(bytes, { intraOpNumThreads: opts.intraOpNumThreads ?? 2 }, `adafusion-${metadata.mode}`);
    return new FusionPredictor(metadata, session, undefined, undefined);
  }

  get models(): { name: string; dim: number }[] {
    return this.metadata.models;
  }

  async predictSlide(slide: AlignedSlide, opts: { signal?: AbortSignal } = {}): Promise<SlidePrediction> {
    if (this.closed) throw new WeightsmithError(ErrorCode.NotReady, 'the predictor is closed');
    const { models } = this.metadata;
    if (!Number.isSafeInteger(slide.n) || slide.n < 1) throw invalidInput('n', `slide '${slide.id}' has no tiles`);
    if (slide.features.length !== models.length) {
      throw invalidInput('features', `slide '${slide.id}' has features of ${slide.features.length} models; the model was fitted on ${models.length} (${models.map((m) => m.name).join(', ')})`);
    }
    const feeds: TensorMap = {};
    models.forEach((m, i) => {
      const x = slide.features[i]!;
      if (x.length !== slide.n * m.dim) {
        throw new WeightsmithError(ErrorCode.ShapeMismatch, `slide '${slide.id}' model '${m.name}': ${x.length} values, expected ${slide.n} tiles × ${m.dim}`, { field: `features.${i}` });
      }
      feeds[`x${i}`] = { dtype: 'float32', dims: [slide.n, m.dim], data: x };
    });
    const out = await this.run(feeds, opts.signal);
    const f32 = (name: string): Float32Array | undefined => {
      const t = out[name];
      return t === undefined ? undefined : (t.data as Float32Array);
    };
    const fused = f32('fused')!;
    const result: SlidePrediction = {
      fused,
      fusedWidth: fused.length / slide.n,
      alpha: f32('alpha')!,
      contextWeights: f32('context_weights')!,
    };
    const alphaChannels = f32('alpha_channels');
    if (alphaChannels) result.alphaChannels = alphaChannels;
    const attention = f32('attention');
    if (attention) result.attention = attention;
    const logits = f32('logits');
    if (logits) {
      result.logits = logits;
      result.probs = softmax(logits);
    }
    const prediction = f32('prediction');
    if (prediction) result.prediction = prediction;
    return result;
  }

  private async run(feeds: TensorMap, signal: AbortSignal | undefined): Promise<TensorMap> {
    if (this.pool && this.poolModel) return this.pool.run(this.poolModel, feeds, undefined, signal ? { signal } : {});
    const session = this.session!;
    const ortFeeds: Record<string, ReturnType<typeof toOrtTensor>> = {};
    for (const [k, t] of Object.entries(feeds)) ortFeeds[k] = toOrtTensor(t as TensorData);
    const res = await session.run(ortFeeds);
    const out: TensorMap = {};
    for (const [k, t] of Object.entries(res)) out[k] = fromOrtTensor(k, t);
    return out;
  }

  /** Releases the in-thread session (a pool's model stays loaded; the pool owns it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.session) await this.session.release();
  }
}
