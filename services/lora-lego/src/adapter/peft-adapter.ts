/**
 * Opening a PEFT LoRA adapter (`adapter_config.json` + `adapter_model.safetensors`) from a
 * folder, a tar (local, in an object store, or an artifact), an object-store prefix or memory.
 *
 * Opening validates everything that needs no tensor data: the config, the safetensors header,
 * the LoRA key structure, factor shapes against the config's ranks. Factor values are read
 * lazily, one module at a time (`readModule`), converted to F32 and checked for NaN/Inf then.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, WeightsmithError, invalidFormat, isWeightsmithError, notFound } from '@weightsmith/core';
import {
  memorySource,
  openFileSource,
  openObjectStoreSource,
  openSafetensors,
  type ByteSource,
  type SafetensorsDType,
  type SafetensorsFile,
} from '@weightsmith/safetensors';
import { artifactDataKey, validateArtifactId, type ArtifactStore, type ObjectStore } from '@weightsmith/store';
import { floatValuesAsF32 } from '@weightsmith/tensor';
import { readTarIndex, subrangeSource, type TarEntry, type TarIndexOptions } from '../tar/index.js';
import { CONFIG_FILE, parsePeftConfig, resolveModuleScaling, type PeftConfig } from './peft-config.js';
import { parseTensorKey, type ModuleKind } from './peft-keys.js';

export const WEIGHTS_FILE = 'adapter_model.safetensors';

/** Largest `adapter_config.json` accepted (PEFT's are a few kB). */
export const MAX_CONFIG_BYTES = 1 << 20;

export type FactorDType = 'F32' | 'F16' | 'BF16';
const FACTOR_DTYPES: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16']);

export interface AdapterModule {
  /** PEFT's module path inside the base model, e.g. `model.layers.0.self_attn.q_proj`. */
  name: string;
  kind: ModuleKind;
  /** Rank (rows of A), equal to the config's r for this module. */
  r: number;
  alpha: number;
  /** PEFT's scaling: ΔW = scale · B · A. */
  scale: number;
  /** Columns of A: in_features (linear) or num_embeddings (embedding). */
  dIn: number;
  /** Rows of B: out_features (linear) or embedding_dim (embedding). */
  dOut: number;
  dtype: FactorDType;
  /** The safetensors keys of the factors, as stored. */
  tensors: { A: string; B: string };
}

export interface ModuleFactors {
  /** r × dIn, row-major. */
  A: Float32Array;
  /** dOut × r, row-major. */
  B: Float32Array;
}

/** A tensor that is not a LoRA factor (`modules_to_save` copies, trained biases…), stored as is. */
export interface CarriedTensor {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  byteLength: number;
}

export interface PeftAdapter {
  /** Where it came from, for messages. */
  readonly label: string;
  readonly config: PeftConfig;
  /** `adapter_config.json` exactly as read. */
  readonly configBytes: Uint8Array;
  readonly baseModel?: string;
  /** Modules in UTF-8 name order. */
  readonly modules: readonly AdapterModule[];
  readonly carried: readonly CarriedTensor[];
  /** The opened `adapter_model.safetensors` (header, metadata, raw access). */
  readonly weights: SafetensorsFile;
  module(name: string): AdapterModule;
  /** Both factors of one module in F32; `non_finite` if any value is NaN or infinite. */
  readModule(name: string): Promise<ModuleFactors>;
  /** A carried tensor's raw bytes. */
  readCarried(name: string): Promise<Uint8Array>;
  /** sha256 (hex) of a carried tensor's bytes, streamed. */
  carriedDigest(name: string): Promise<string>;
  close(): Promise<void>;
}

export interface AdapterFiles {
  config: Uint8Array;
  weights: ByteSource;
  /** Where the files came from, prefixed to messages. */
  label?: string;
}

function prefixError(err: unknown, label: string, file: string): unknown {
  if (!isWeightsmithError(err)) return err;
  return new WeightsmithError(err.code, `${label}: ${file}: ${err.message}`, {
    field: err.field ? `${file}.${err.field}` : file,
    cause: err,
  });
}

function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Validates config and weights and builds the adapter; closes `weights` on failure. */
export async function openPeftAdapter(files: AdapterFiles): Promise<PeftAdapter> {
  const label = files.label ?? 'adapter';
  let weights: SafetensorsFile | undefined;
  try {
    if (files.config.byteLength > MAX_CONFIG_BYTES) {
      throw new WeightsmithError(ErrorCode.TooLarge, `${label}: ${CONFIG_FILE} is ${files.config.byteLength} bytes, over ${MAX_CONFIG_BYTES}`, {
        field: CONFIG_FILE,
      });
    }
    const config = parsePeftConfig(files.config, label);
    try {
      weights = await openSafetensors(files.weights);
    } catch (err) {
      throw prefixError(err, label, WEIGHTS_FILE);
    }
    const { modules, carried } = indexTensors(weights, config, label);
    return new OpenedAdapter(label, config, files.config, weights, modules, carried);
  } catch (err) {
    await (weights ? weights.close() : files.weights.close?.())?.catch(() => undefined);
    throw err;
  }
}

function indexTensors(weights: SafetensorsFile, config: PeftConfig, label: string): { modules: AdapterModule[]; carried: CarriedTensor[] } {
  const factors = new Map<string, { kind: ModuleKind; A?: string; B?: string }>();
  const carried: CarriedTensor[] = [];
  for (const info of weights.tensors) {
    const key = parseTensorKey(info.name);
    switch (key.type) {
      case 'dora':
        throw new WeightsmithError(ErrorCode.InvalidInput, `${label}: DoRA adapters are not supported (tensor "${info.name}" is a DoRA magnitude vector)`, {
          field: info.name,
        });
      case 'lora_bias':
        throw new WeightsmithError(ErrorCode.InvalidInput, `${label}: adapters with LoRA biases are not supported (tensor "${info.name}")`, {
          field: info.name,
        });
      case 'unknown_lora':
        throw invalidFormat(
          `${label}: tensor "${info.name}" looks like a LoRA tensor but does not follow PEFT's naming (…lora_A.weight, …lora_B.weight, …lora_embedding_A/B)`,
          info.name,
        );
      case 'other':
        carried.push({ name: info.name, dtype: info.dtype, shape: [...info.shape], byteLength: info.byteLength });
        break;
      case 'factor': {
        const id = `${key.kind}:${key.module}`;
        const entry = factors.get(id) ?? { kind: key.kind };
        const existing = entry[key.factor];
        if (existing !== undefined) {
          throw invalidFormat(`${label}: tensors "${existing}" and "${info.name}" are both lora_${key.factor} of module "${key.module}"`, info.name);
        }
        entry[key.factor] = info.name;
        factors.set(id, entry);
        break;
      }
    }
  }
  if (factors.size === 0) {
    throw invalidFormat(
      `${label}: not a LoRA adapter: ${WEIGHTS_FILE} has no lora_A/lora_B tensors (${weights.tensors.length} tensors, e.g. ${JSON.stringify(weights.tensors[0]?.name ?? 'none')})`,
      WEIGHTS_FILE,
    );
  }
  const modules: AdapterModule[] = [];
  const names = new Set<string>();
  for (const [id, entry] of factors) {
    const name = id.slice(id.indexOf(':') + 1);
    if (entry.A === undefined || entry.B === undefined) {
      const present = (entry.A ?? entry.B)!;
      const missing = entry.A === undefined ? 'lora_A' : 'lora_B';
      throw invalidFormat(`${label}: module "${name}" has "${present}" but no ${missing} tensor`, present);
    }
    if (names.has(name)) throw invalidFormat(`${label}: module "${name}" has both linear and embedding LoRA factors`, entry.A);
    names.add(name);
    modules.push(checkModule(weights, config, label, name, entry.kind, entry.A, entry.B));
  }
  modules.sort((a, b) => compareUtf8(a.name, b.name));
  return { modules, carried };
}

function checkModule(
  weights: SafetensorsFile,
  config: PeftConfig,
  label: string,
  name: string,
  kind: ModuleKind,
  aName: string,
  bName: string,
): AdapterModule {
  const a = weights.get(aName);
  const b = weights.get(bName);
  for (const t of [a, b]) {
    if (!FACTOR_DTYPES.has(t.dtype)) {
      throw invalidFormat(`${label}: tensor "${t.name}" has dtype ${t.dtype}; LoRA factors must be F32, F16 or BF16`, t.name);
    }
    if (t.shape.length !== 2) {
      throw new WeightsmithError(
        ErrorCode.InvalidInput,
        `${label}: tensor "${t.name}" has shape [${t.shape.join(', ')}]; only 2-D (Linear, Embedding) LoRA factors are supported, not convolution LoRA`,
        { field: t.name },
      );
    }
    if (t.shape.some((d) => d === 0)) throw invalidFormat(`${label}: tensor "${t.name}" has an empty shape [${t.shape.join(', ')}]`, t.name);
  }
  const [rA, dIn] = a.shape as [number, number];
  const [dOut, rB] = b.shape as [number, number];
  if (rA !== rB) {
    throw new WeightsmithError(
      ErrorCode.ShapeMismatch,
      `${label}: module "${name}": "${aName}" has ${rA} rows but "${bName}" has ${rB} columns; both must equal the rank`,
      { field: bName },
    );
  }
  const scaling = resolveModuleScaling(config, name);
  if (rA !== scaling.r) {
    const why = scaling.rankPatternKey === undefined ? `r = ${config.r}` : `rank_pattern["${scaling.rankPatternKey}"] = ${scaling.r}`;
    throw new WeightsmithError(
      ErrorCode.ShapeMismatch,
      `${label}: module "${name}": "${aName}" has rank ${rA} but ${CONFIG_FILE} says ${why}; PEFT would refuse to load it`,
      { field: aName },
    );
  }
  return {
    name,
    kind,
    r: scaling.r,
    alpha: scaling.alpha,
    scale: scaling.scale,
    dIn,
    dOut,
    dtype: a.dtype as FactorDType,
    tensors: { A: aName, B: bName },
  };
}

class OpenedAdapter implements PeftAdapter {
  readonly baseModel?: string;
  private readonly byName: Map<string, AdapterModule>;
  private readonly carriedNames: Set<string>;

  constructor(
    readonly label: string,
    readonly config: PeftConfig,
    readonly configBytes: Uint8Array,
    readonly weights: SafetensorsFile,
    readonly modules: readonly AdapterModule[],
    readonly carried: readonly CarriedTensor[],
  ) {
    if (typeof config.base_model_name_or_path === 'string') this.baseModel = config.base_model_name_or_path;
    this.byName = new Map(modules.map((m) => [m.name, m]));
    this.carriedNames = new Set(carried.map((c) => c.name));
  }

  module(name: string): AdapterModule {
    const m = this.byName.get(name);
    if (!m) throw notFound(`${this.label}: no LoRA module "${name}"`, name);
    return m;
  }

  async readModule(name: string): Promise<ModuleFactors> {
    const m = this.module(name);
    return { A: await this.readFactor(m.tensors.A), B: await this.readFactor(m.tensors.B) };
  }

  private async readFactor(tensorName: string): Promise<Float32Array> {
    let t;
    try {
      t = await this.weights.read(tensorName);
    } catch (err) {
      throw prefixError(err, this.label, WEIGHTS_FILE);
    }
    const values = floatValuesAsF32(t);
    if (values === undefined) throw invalidFormat(`${this.label}: tensor "${tensorName}" has dtype ${t.dtype}`, tensorName);
    const bad = firstNonFinite(values);
    if (bad !== -1) {
      throw new WeightsmithError(
        ErrorCode.NonFinite,
        `${this.label}: tensor "${tensorName}" has a non-finite value (${values[bad]}) at flat index ${bad}`,
        { field: tensorName },
      );
    }
    return values;
  }

  private checkCarried(name: string): void {
    if (!this.carriedNames.has(name)) throw notFound(`${this.label}: no carried (non-LoRA) tensor "${name}"`, name);
  }

  async readCarried(name: string): Promise<Uint8Array> {
    this.checkCarried(name);
    return this.weights.readBytes(name);
  }

  async carriedDigest(name: string): Promise<string> {
    this.checkCarried(name);
    const hash = createHash('sha256');
    for await (const chunk of this.weights.stream(name)) hash.update(chunk as Uint8Array);
    return hash.digest('hex');
  }

  close(): Promise<void> {
    return this.weights.close();
  }
}

/** From an in-memory config (bytes, text or object) and safetensors bytes. */
export function openPeftAdapterMemory(files: { config: Uint8Array | string | object; weights: Uint8Array; label?: string }): Promise<PeftAdapter> {
  const config =
    files.config instanceof Uint8Array
      ? files.config
      : new TextEncoder().encode(typeof files.config === 'string' ? files.config : JSON.stringify(files.config));
  return openPeftAdapter({ config, weights: memorySource(files.weights), label: files.label ?? 'adapter' });
}

/** From a local PEFT folder (`save_pretrained` output). */
export async function openPeftAdapterFolder(dir: string): Promise<PeftAdapter> {
  let config: Uint8Array;
  try {
    config = await readFile(join(dir, CONFIG_FILE));
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw cause;
    throw invalidFormat(`${dir}: ${CONFIG_FILE} is missing (is this a PEFT adapter folder?)`, CONFIG_FILE);
  }
  let weights: ByteSource;
  try {
    weights = await openFileSource(join(dir, WEIGHTS_FILE));
  } catch (err) {
    if (isWeightsmithError(err, ErrorCode.NotFound)) {
      throw invalidFormat(`${dir}: ${WEIGHTS_FILE} is missing (adapter_model.bin pickles are not read; save with safe_serialization=True)`, WEIGHTS_FILE);
    }
    throw err;
  }
  return openPeftAdapter({ config, weights, label: dir });
}

/**
 * The config and weights entries of an adapter tar: at the top level, or inside one top-level
 * folder (`tar cf a.tar my-adapter/`). Other files (README.md…) are ignored.
 */
export function locateAdapterEntries(entries: readonly TarEntry[], label: string): { config: TarEntry; weights: TarEntry } {
  const configs = entries.filter((e) => e.name === CONFIG_FILE || /^[^/]+\/adapter_config\.json$/.test(e.name));
  if (configs.length === 0) throw invalidFormat(`${label}: the tar has no ${CONFIG_FILE} (at the top level or in one folder)`, CONFIG_FILE);
  if (configs.length > 1) {
    throw invalidFormat(`${label}: the tar has several ${CONFIG_FILE} (${configs.map((c) => c.name).join(', ')}); upload one adapter per tar`, CONFIG_FILE);
  }
  const config = configs[0]!;
  const dir = config.name.slice(0, config.name.length - CONFIG_FILE.length);
  const weights = entries.find((e) => e.name === `${dir}${WEIGHTS_FILE}`);
  if (!weights) throw invalidFormat(`${label}: the tar has ${config.name} but no ${dir}${WEIGHTS_FILE}`, WEIGHTS_FILE);
  return { config, weights };
}

/** From a tar held by any byte source; the adapter owns (and closes) the source. */
export async function openPeftAdapterTar(source: ByteSource, options: TarIndexOptions = {}): Promise<PeftAdapter> {
  const label = options.label ?? 'adapter tar';
  try {
    const { config, weights } = locateAdapterEntries(await readTarIndex(source, { ...options, label }), label);
    if (config.size > MAX_CONFIG_BYTES) {
      throw new WeightsmithError(ErrorCode.TooLarge, `${label}: ${CONFIG_FILE} is ${config.size} bytes, over ${MAX_CONFIG_BYTES}`, { field: CONFIG_FILE });
    }
    const configBytes = await source.read(config.offset, config.size);
    return await openPeftAdapter({ config: configBytes, weights: subrangeSource(source, weights.offset, weights.size), label });
  } catch (err) {
    await source.close?.().catch(() => undefined);
    throw err;
  }
}

/** From a local tar file. */
export async function openPeftAdapterTarFile(path: string): Promise<PeftAdapter> {
  return openPeftAdapterTar(await openFileSource(path), { label: path });
}

/** From a tar stored under `key`; tensors are fetched with ranged GETs. */
export async function openPeftAdapterObject(store: ObjectStore, key: string): Promise<PeftAdapter> {
  return openPeftAdapterTar(await openObjectStoreSource(store, key), { label: store.uri(key) });
}

/** From an adapter artifact (the deterministic tar) by id. */
export async function openPeftAdapterArtifact(artifacts: ArtifactStore, id: string): Promise<PeftAdapter> {
  const key = artifactDataKey(validateArtifactId(id));
  const source = await openObjectStoreSource(artifacts.store, key).catch((err: unknown) => {
    if (isWeightsmithError(err, ErrorCode.NotFound)) throw notFound(`adapter artifact ${id} does not exist`, 'id');
    throw err;
  });
  return openPeftAdapterTar(source, { label: `artifact ${id}` });
}

/** From a PEFT folder laid out under an object-store prefix (`<prefix>/adapter_config.json`…). */
export async function openPeftAdapterPrefix(store: ObjectStore, prefix: string): Promise<PeftAdapter> {
  const base = prefix.replace(/\/+$/, '');
  const label = store.uri(base);
  const configStat = await store.exists(`${base}/${CONFIG_FILE}`);
  if (!configStat) throw invalidFormat(`${label}: ${CONFIG_FILE} is missing`, CONFIG_FILE);
  if (configStat.size > MAX_CONFIG_BYTES) {
    throw new WeightsmithError(ErrorCode.TooLarge, `${label}: ${CONFIG_FILE} is ${configStat.size} bytes, over ${MAX_CONFIG_BYTES}`, { field: CONFIG_FILE });
  }
  const config = await store.getBytes(`${base}/${CONFIG_FILE}`);
  if (!(await store.exists(`${base}/${WEIGHTS_FILE}`))) throw invalidFormat(`${label}: ${WEIGHTS_FILE} is missing`, WEIGHTS_FILE);
  return openPeftAdapter({ config, weights: await openObjectStoreSource(store, `${base}/${WEIGHTS_FILE}`), label });
}
