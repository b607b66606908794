/**
 * Writing a merged adapter in PEFT's layout: `adapter_config.json` (r = lora_alpha = k, so the
 * scaling is 1 and the factors carry the whole ΔW; no patterns, no rsLoRA) and
 * `adapter_model.safetensors` with `base_model.model.<module>.lora_A.weight` keys and
 * `__metadata__.format = "pt"` (PEFT and transformers check it). Modules are produced lazily,
 * one at a time, so peak memory is about one module whatever the adapter's size.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';
import { createSafetensorsStream, planSafetensors, writeSafetensors, type TensorToWrite } from '@weightsmith/safetensors';
import { f32ToBF16, f32ToF16 } from '@weightsmith/tensor';
import { createTarStream, type TarStream } from '../tar/index.js';
import type { CarriedToWrite } from './carried.js';
import { CONFIG_FILE } from './peft-config.js';
import type { PeftConfig } from './peft-config.js';
import { WEIGHTS_FILE, type FactorDType } from './peft-adapter.js';
import { factorKey, type ModuleKind } from './peft-keys.js';

export interface ModuleToWrite {
  name: string;
  kind: ModuleKind;
  dIn: number;
  dOut: number;
  /**
   * Called when the writer reaches the module: A is k × dIn, B is dOut × k, with the scale folded
   * in; F32 values, or (for an F16/BF16 adapter) a Uint16Array already holding that dtype's bits.
   */
  produce: () => Promise<WritableFactors> | WritableFactors;
}

/** A factor as F32 values, or as the target dtype's 16-bit patterns when that is F16 or BF16. */
export interface WritableFactors {
  A: Float32Array | Uint16Array;
  B: Float32Array | Uint16Array;
}

export interface PeftAdapterToWrite {
  /** Merged rank; written as both `r` and `lora_alpha`. */
  k: number;
  modules: readonly ModuleToWrite[];
  dtype: FactorDType;
  baseModel?: string;
  /** Default: the distinct last path segments of the module names, sorted. */
  targetModules?: readonly string[];
  /**
   * Config of the first input: `task_type`, `fan_in_fan_out`, `revision` and (with carried
   * tensors) `modules_to_save` and `bias` are copied from it; the LoRA shape fields never are.
   */
  inheritFrom?: PeftConfig;
  /** Non-LoRA tensors to write unchanged (see `planCarriedTensors`). */
  carried?: readonly CarriedToWrite[];
  /** Provenance for `__metadata__` (strings); `format` is always "pt". */
  metadata?: Readonly<Record<string, string>>;
}

export interface PreparedAdapter {
  config: Record<string, unknown>;
  configBytes: Uint8Array;
  /** Size of `adapter_model.safetensors`. */
  weightsBytes: number;
  tensors: TensorToWrite[];
  metadata: Record<string, string>;
}

const INHERITED = ['task_type', 'fan_in_fan_out', 'revision'] as const;

/** JSON with keys sorted at every level, 2-space indent: what PEFT's `save_pretrained` writes, and deterministic. */
function stableJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return `${JSON.stringify(sort(value), null, 2)}\n`;
}

export function buildPeftConfig(spec: PeftAdapterToWrite): Record<string, unknown> {
  const target = spec.targetModules ?? [...new Set(spec.modules.map((m) => m.name.slice(m.name.lastIndexOf('.') + 1)))];
  const config: Record<string, unknown> = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: spec.baseModel ?? spec.inheritFrom?.base_model_name_or_path ?? null,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: spec.k,
    lora_dropout: 0,
    modules_to_save: null,
    peft_type: 'LORA',
    r: spec.k,
    rank_pattern: {},
    revision: null,
    target_modules: [...target].sort(),
    task_type: null,
    use_dora: false,
    use_rslora: false,
  };
  for (const key of INHERITED) {
    const v = spec.inheritFrom?.[key];
    if (v !== undefined && v !== null) config[key] = v;
  }
  if ((spec.carried?.length ?? 0) > 0 && spec.inheritFrom) {
    config.modules_to_save = spec.inheritFrom.modules_to_save ?? null;
    config.bias = spec.inheritFrom.bias ?? 'none';
  }
  return config;
}

function encodeFactor(values: Float32Array | Uint16Array, dtype: FactorDType): Uint8Array {
  const typed = values instanceof Uint16Array || dtype === 'F32' ? values : dtype === 'F16' ? f32ToF16(values) : f32ToBF16(values);
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

function checkSpec(spec: PeftAdapterToWrite): void {
  if (!Number.isInteger(spec.k) || spec.k < 1) throw invalidInput('k', `k must be an integer ≥ 1, got ${spec.k}`);
  if (spec.dtype !== 'F32' && spec.dtype !== 'F16' && spec.dtype !== 'BF16') {
    throw invalidInput('dtype', `dtype must be F32, F16 or BF16, got ${JSON.stringify(spec.dtype)}`);
  }
  if (spec.modules.length === 0) throw invalidInput('modules', 'a LoRA adapter needs at least one module');
  const seen = new Set<string>();
  for (const m of spec.modules) {
    if (seen.has(m.name)) throw invalidInput(`modules.${m.name}`, `module "${m.name}" is listed twice`);
    seen.add(m.name);
    for (const d of ['dIn', 'dOut'] as const) {
      if (!Number.isInteger(m[d]) || m[d] < 1) throw invalidInput(`modules.${m.name}.${d}`, `module "${m.name}": ${d} must be an integer ≥ 1, got ${m[d]}`);
    }
  }
}

/**
 * The config and the safetensors tensor list with lazy producers. A module's `produce()` runs
 * once, when the writer reaches its first factor; the result is dropped after its second factor.
 */
export function preparePeftAdapter(spec: PeftAdapterToWrite): PreparedAdapter {
  checkSpec(spec);
  const config = buildPeftConfig(spec);
  const tensors: TensorToWrite[] = [];
  for (const m of spec.modules) {
    let pending: Promise<WritableFactors> | undefined;
    let served = 0;
    const factor = async (which: 'A' | 'B'): Promise<Uint8Array> => {
      pending ??= Promise.resolve(m.produce());
      const factors = await pending;
      // Each write asks for A then B (or B then A): drop the module after its second factor.
      if (++served % 2 === 0) pending = undefined;
      const values = factors[which];
      const expected = which === 'A' ? spec.k * m.dIn : m.dOut * spec.k;
      const encoded = values instanceof Uint16Array && spec.dtype !== 'F32';
      if (!(values instanceof Float32Array || encoded) || values.length !== expected) {
        throw new WeightsmithError(
          ErrorCode.ShapeMismatch,
          `module "${m.name}": produced ${which} has ${values?.length} values, ${which === 'A' ? `k × dIn = ${spec.k} × ${m.dIn}` : `dOut × k = ${m.dOut} × ${spec.k}`} needs ${expected}`,
          { field: `modules.${m.name}.${which}` },
        );
      }
      return encodeFactor(values, spec.dtype);
    };
    tensors.push(
      { name: factorKey(m.name, m.kind, 'A'), dtype: spec.dtype, shape: [spec.k, m.dIn], producer: () => factor('A') },
      { name: factorKey(m.name, m.kind, 'B'), dtype: spec.dtype, shape: [m.dOut, spec.k], producer: () => factor('B') },
    );
  }
  for (const c of spec.carried ?? []) {
    tensors.push({ name: c.name, dtype: c.dtype, shape: c.shape, byteLength: c.byteLength, producer: c.producer });
  }
  const metadata = { ...(spec.metadata ?? {}), format: 'pt' };
  const weightsBytes = planSafetensors(tensors, metadata).totalSize;
  return { config, configBytes: new TextEncoder().encode(stableJson(config)), weightsBytes, tensors, metadata };
}

/**
 * The adapter as the deterministic tar (`adapter_config.json`, then `adapter_model.safetensors`)
 * with its exact size, for `ObjectStore.put(key, stream, {size})` or `ArtifactStore.put`.
 */
export function createPeftAdapterTar(spec: PeftAdapterToWrite): TarStream & { config: Record<string, unknown> } {
  const prepared = preparePeftAdapter(spec);
  return { ...tarOfPrepared(prepared), config: prepared.config };
}

export function tarOfPrepared(prepared: PreparedAdapter): TarStream {
  return createTarStream([
    { name: CONFIG_FILE, size: prepared.configBytes.byteLength, body: prepared.configBytes },
    {
      name: WEIGHTS_FILE,
      size: prepared.weightsBytes,
      body: () => createSafetensorsStream(prepared.tensors, prepared.metadata).stream,
    },
  ]);
}

/** Wraps existing adapter files, unchanged, in the deterministic tar (uploads). */
export function createAdapterTarFromFiles(configBytes: Uint8Array, weights: { size: number; open: () => AsyncIterable<Uint8Array> }): TarStream {
  return createTarStream([
    { name: CONFIG_FILE, size: configBytes.byteLength, body: configBytes },
    { name: WEIGHTS_FILE, size: weights.size, body: weights.open },
  ]);
}

/**
 * Writes the adapter as a PEFT folder (the CLI's output). The folder is created if needed; each
 * file is written to a temporary name and renamed, so a failure leaves no half-written file.
 */
export async function writePeftAdapterFolder(dir: string, spec: PeftAdapterToWrite): Promise<{ config: Record<string, unknown>; weightsBytes: number }> {
  const prepared = preparePeftAdapter(spec);
  await mkdir(dir, { recursive: true });
  await writeSafetensors(join(dir, WEIGHTS_FILE), prepared.tensors, prepared.metadata);
  const temp = join(dir, `.${CONFIG_FILE}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temp, prepared.configBytes, { flag: 'wx' });
    await rename(temp, join(dir, CONFIG_FILE));
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  return { config: prepared.config, weightsBytes: prepared.weightsBytes };
}
