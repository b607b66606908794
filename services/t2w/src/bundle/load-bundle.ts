/**
 * Loads a T2W bundle from a folder or an object-store prefix and checks, before the service
 * accepts it, everything a sampler will rely on: bundle.json against the schema, the denoiser's
 * bytes against their sha256, the denoiser's inputs/outputs against the ONNX contract (names,
 * dtypes, declared shapes, and a 2-row probe run whose output must be [2, P] and finite), the
 * text encoder's projection dim against condDim, and the presence of the optional evaluation
 * files. Every failure is `invalid_format` with a message naming the bundle and the rule.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ErrorCode, WeightsmithError, invalidFormat, invalidInput, isWeightsmithError } from '@weightsmith/core';
import { createSession, type SessionOptions } from '@weightsmith/onnx';
import type { ObjectStore } from '@weightsmith/store';
import { clipFileSet, inspectClipFolder, normalizePrefix, prefixUri, requiredClipFiles } from '@weightsmith/text';
import { parseBundleManifest, type BundleManifest } from './bundle-schema.js';
import { planBlocks, type BlockSpan } from './blocks.js';

export type BundleSource = { dir: string } | { store: ObjectStore; prefix: string };

/** Where the CLIP text model lives: a local folder, or a prefix of an object store. */
export type TextEncoderRef = { dir: string } | { store: ObjectStore; prefix: string };

export interface LoadBundleOptions {
  /** Store that `store:<prefix>` text references point into when the bundle is a folder. */
  textStore?: ObjectStore;
  /** Threads for the validation session. */
  session?: SessionOptions;
}

export interface LoadedBundle {
  name: string;
  manifest: BundleManifest;
  /** Human-readable location (folder path or store URI). */
  location: string;
  /**
   * Identity of what generates: sha256 over bundle.json then denoiser.onnx, each preceded by its
   * byte length as a u64 LE (so moving bytes between the two files changes the digest).
   */
  digest: string;
  denoiserBytes: Uint8Array;
  blocks: BlockSpan[];
  textEncoder: TextEncoderRef;
  /** The local folder of the text encoder, when it is one. */
  textEncoderDir: string | undefined;
  /** Reads another file of the bundle (backbone.onnx, evaluation data). */
  readFile(relPath: string): Promise<Uint8Array>;
}

/** Read access to one bundle's files, whatever holds them. */
interface BundleFiles {
  location: string;
  read(rel: string): Promise<Uint8Array | undefined>;
  exists(rel: string): Promise<boolean>;
}

export async function loadBundle(source: BundleSource, opts: LoadBundleOptions = {}): Promise<LoadedBundle> {
  const files = bundleFiles(source);
  const label = files.location;
  const fail = (message: string, field: string): WeightsmithError => invalidFormat(`bundle ${label}: ${message}`, field);

  const manifestBytes = await files.read('bundle.json');
  if (manifestBytes === undefined) throw fail('bundle.json is missing', 'bundle.json');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(manifestBytes));
  } catch (err) {
    throw fail(`bundle.json is not valid UTF-8 JSON: ${(err as Error).message}`, 'bundle.json');
  }
  const manifest = parseBundleManifest(json, label);
  const d = manifest.denoiser;

  const denoiserBytes = await files.read(d.file);
  if (denoiserBytes === undefined) throw fail(`${d.file} (bundle.json.denoiser.file) is missing`, d.file);
  const sha = createHash('sha256').update(denoiserBytes).digest('hex');
  if (sha !== d.sha256) {
    throw fail(`${d.file} has sha256 ${sha} but bundle.json.denoiser.sha256 says ${d.sha256}; the file was changed or truncated`, d.file);
  }
  await checkDenoiserContract(denoiserBytes, manifest, label, opts.session ?? {});

  const text = await resolveTextEncoder(source, manifest, label, opts);

  if (manifest.evaluation) {
    for (const rel of [manifest.evaluation.backbone, manifest.evaluation.data]) {
      if (rel !== undefined && !(await files.exists(rel))) throw fail(`${rel} (bundle.json.evaluation) is missing`, rel);
    }
  }

  return {
    name: manifest.name,
    manifest,
    location: label,
    digest: bundleDigest(manifestBytes, denoiserBytes),
    denoiserBytes,
    blocks: planBlocks(manifest.target.layout, manifest.blockSize),
    textEncoder: text.ref,
    textEncoderDir: text.dir,
    readFile: async (rel) => {
      if (!/^[A-Za-z0-9_][A-Za-z0-9_./-]*$/.test(rel) || rel.split('/').includes('..')) {
        throw invalidInput('path', `"${rel}" is not a relative path inside the bundle`);
      }
      const bytes = await files.read(rel);
      if (bytes === undefined) throw fail(`${rel} is missing`, rel);
      return bytes;
    },
  };
}

export function bundleDigest(manifestBytes: Uint8Array, denoiserBytes: Uint8Array): string {
  const h = createHash('sha256');
  for (const part of [manifestBytes, denoiserBytes]) {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(part.byteLength));
    h.update(len).update(part);
  }
  return h.digest('hex');
}

function bundleFiles(source: BundleSource): BundleFiles {
  if ('dir' in source) {
    const dir = resolve(source.dir);
    return {
      location: dir,
      read: async (rel) => {
        try {
          return new Uint8Array(await readFile(join(dir, rel)));
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT' || code === 'EISDIR') return undefined;
          throw err;
        }
      },
      exists: async (rel) => (await stat(join(dir, rel)).catch(() => undefined))?.isFile() ?? false,
    };
  }
  const { store } = source;
  const prefix = normalizePrefix(source.prefix);
  return {
    location: prefixUri(store, prefix),
    read: async (rel) => {
      try {
        return await store.getBytes(prefix + rel);
      } catch (err) {
        if (isWeightsmithError(err, ErrorCode.NotFound)) return undefined;
        throw err;
      }
    },
    exists: async (rel) => (await store.exists(prefix + rel)) !== undefined,
  };
}

/**
 * The ONNX contract: inputs exactly {x [B, P] f32, t [B] tDtype, cond [B, E] f32}, an output
 * [B, P] f32 under the declared name. Declared shapes are checked where the model declares
 * them; the probe run checks what it computes.
 */
async function checkDenoiserContract(bytes: Uint8Array, m: BundleManifest, label: string, sessionOptions: SessionOptions): Promise<void> {
  const d = m.denoiser;
  const P = d.parameterCount;
  const E = d.condDim;
  const fail = (message: string): WeightsmithError => invalidFormat(`bundle ${label}: ${d.file} does not meet the denoiser contract: ${message}`, d.file);
  let session: ort.InferenceSession;
  try {
    session = await createSession(bytes, sessionOptions, `${label}/${d.file}`);
  } catch (err) {
    throw invalidFormat(`bundle ${label}: ${d.file} is not a loadable ONNX model: ${(err as Error).message}`, d.file);
  }
  try {
    const expected = [
      { name: d.inputs.x, dtype: 'float32', shape: ['B', P], role: 'x' },
      { name: d.inputs.t, dtype: d.inputs.tDtype, shape: ['B'], role: 't' },
      { name: d.inputs.cond, dtype: 'float32', shape: ['B', E], role: 'cond' },
    ] as const;
    const actualInputs = session.inputMetadata;
    for (const e of expected) {
      const meta = actualInputs.find((a) => a.name === e.name);
      if (meta === undefined) {
        throw fail(`input "${e.name}" (bundle.json.denoiser.inputs.${e.role}) is missing; the model's inputs are ${actualInputs.map((a) => `"${a.name}"`).join(', ')}`);
      }
      checkValue(meta, e.dtype, e.shape, `input "${e.name}"`, fail);
    }
    const extra = actualInputs.filter((a) => !expected.some((e) => e.name === a.name));
    if (extra.length > 0) throw fail(`unexpected inputs ${extra.map((a) => `"${a.name}"`).join(', ')}; the contract has only x, t and cond`);
    const outMeta = session.outputMetadata.find((o) => o.name === d.output);
    if (outMeta === undefined) {
      throw fail(`output "${d.output}" (bundle.json.denoiser.output) is missing; the model's outputs are ${session.outputMetadata.map((o) => `"${o.name}"`).join(', ')}`);
    }
    checkValue(outMeta, 'float32', ['B', P], `output "${d.output}"`, fail);

    // Probe with two rows, so a batch dim frozen to 1 at export is caught too.
    const B = 2;
    const t = d.inputs.tDtype === 'int64' ? new ort.Tensor('int64', new BigInt64Array(B), [B]) : new ort.Tensor('float32', new Float32Array(B), [B]);
    let result: ort.InferenceSession.ReturnType;
    try {
      result = await session.run(
        { [d.inputs.x]: new ort.Tensor('float32', new Float32Array(B * P), [B, P]), [d.inputs.t]: t, [d.inputs.cond]: new ort.Tensor('float32', new Float32Array(B * E), [B, E]) },
        [d.output],
      );
    } catch (err) {
      throw fail(`a probe run with x [${B}, ${P}], t [${B}], cond [${B}, ${E}] failed: ${(err as Error).message}`);
    }
    const out = result[d.output]!;
    if (out.type !== 'float32' || out.dims.length !== 2 || out.dims[0] !== B || out.dims[1] !== P) {
      throw fail(`a probe run with ${B} rows returned ${out.type} [${out.dims.join(', ')}]; expected float32 [${B}, ${P}]`);
    }
    if (!(out.data as Float32Array).every(Number.isFinite)) throw fail('a probe run with zero inputs returned non-finite values');
  } finally {
    await session.release();
  }
}

/** 'B' stands for the batch dim: any symbolic name or -1 is fine, a fixed size is not required. */
function checkValue(
  meta: ort.InferenceSession.ValueMetadata,
  dtype: string,
  shape: readonly (number | 'B')[],
  what: string,
  fail: (message: string) => WeightsmithError,
): void {
  if (!meta.isTensor) throw fail(`${what} must be a tensor`);
  if (meta.type !== dtype) throw fail(`${what} has dtype ${meta.type}; expected ${dtype}`);
  const actual = meta.shape;
  if (actual.length === 0) return; // shape not declared; the probe run decides
  const want = shape.map((s) => (s === 'B' ? 'batch' : String(s))).join(', ');
  if (actual.length !== shape.length) throw fail(`${what} has rank ${actual.length} [${actual.join(', ')}]; expected [${want}]`);
  shape.forEach((s, i) => {
    const a = actual[i];
    if (s !== 'B' && typeof a === 'number' && a >= 0 && a !== s) {
      throw fail(`${what} has dim ${i} = ${a} [${actual.join(', ')}]; expected [${want}]`);
    }
  });
}

async function resolveTextEncoder(
  source: BundleSource,
  m: BundleManifest,
  label: string,
  opts: LoadBundleOptions,
): Promise<{ ref: TextEncoderRef; dir: string | undefined }> {
  const enc = m.text.encoder;
  const fail = (message: string): WeightsmithError => invalidFormat(`bundle ${label}: text encoder "${enc}": ${message}`, 'bundle.json.text.encoder');
  const storeRef = enc.startsWith('store:') ? enc.slice('store:'.length) : undefined;

  let ref: TextEncoderRef;
  if (storeRef !== undefined) {
    const store = 'store' in source ? source.store : opts.textStore;
    if (store === undefined) throw fail('it names an object-store prefix, but no object store was given (LoadBundleOptions.textStore)');
    ref = { store, prefix: normalizePrefix(storeRef) };
  } else if ('dir' in source) {
    ref = { dir: resolve(source.dir, enc) };
  } else {
    ref = { store: source.store, prefix: normalizePrefix(source.prefix) + normalizePrefix(enc) };
  }

  let projectionDim: number;
  if ('dir' in ref) {
    try {
      projectionDim = (await inspectClipFolder(ref.dir)).projectionDim;
    } catch (err) {
      throw fail((err as Error).message);
    }
  } else {
    projectionDim = await storeClipProjectionDim(ref.store, ref.prefix, fail);
  }
  if (projectionDim !== m.denoiser.condDim) {
    throw fail(`its projection dim is ${projectionDim} but bundle.json.denoiser.condDim is ${m.denoiser.condDim}`);
  }
  return { ref, dir: 'dir' in ref ? ref.dir : undefined };
}

/** Checks the CLIP files are under the prefix and reads projection_dim from its config.json. */
async function storeClipProjectionDim(store: ObjectStore, prefix: string, fail: (message: string) => WeightsmithError): Promise<number> {
  const set = clipFileSet();
  for (const rel of requiredClipFiles(set)) {
    if ((await store.exists(prefix + rel)) === undefined) throw fail(`${prefix}${rel} is missing`);
  }
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(Buffer.from(await store.getBytes(prefix + set.config)).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw fail(`${prefix}${set.config} is not valid JSON: ${(err as Error).message}`);
  }
  const textConfig = (config['model_type'] === 'clip' ? config['text_config'] : config) as Record<string, unknown> | undefined;
  const dim = config['projection_dim'] ?? textConfig?.['projection_dim'] ?? 512;
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1) throw fail(`${prefix}${set.config}: projection_dim must be a positive integer, got ${JSON.stringify(dim)}`);
  return dim;
}
