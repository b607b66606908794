/**
 * Header-first safetensors reader. Opening reads and validates only the length prefix and the
 * JSON header; tensor bytes are fetched one tensor at a time on demand, so memory stays at the
 * size of the tensor being read whatever the file's size.
 */
import type { Readable } from 'node:stream';
import { invalidInput, notFound } from '@weightsmith/core';
import type { ObjectStore } from '@weightsmith/store';
import type { ByteSource } from './byte-source.js';
import { viewTensorData, type SafetensorsDType, type TensorDataByDType } from './dtype.js';
import { openFileSource } from './file-source.js';
import {
  DEFAULT_MAX_HEADER_BYTES,
  LENGTH_PREFIX_BYTES,
  parseHeader,
  parseHeaderLength,
  type SafetensorsHeader,
  type TensorInfo,
} from './header.js';
import { openObjectStoreSource } from './store-source.js';

export interface OpenSafetensorsOptions {
  /**
   * Largest accepted JSON header, in bytes (default 100 000 000, the reference's limit). A file
   * declaring more fails with `too_large` before the header is read.
   */
  maxHeaderBytes?: number;
}

/** A tensor read into memory; `data` is the typed array matching `dtype` (see `TensorDataByDType`). */
export type SafetensorsTensor = {
  [D in SafetensorsDType]: { name: string; dtype: D; shape: number[]; data: TensorDataByDType[D] };
}[SafetensorsDType];

export interface SafetensorsFile extends AsyncIterable<SafetensorsTensor> {
  readonly source: ByteSource;
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensors in file order (increasing offset). */
  readonly tensors: readonly TensorInfo[];
  /** N, the header's length in bytes. */
  readonly headerLength: number;
  /** Absolute offset of the data buffer (8 + N). */
  readonly dataStart: number;
  has(name: string): boolean;
  /** The tensor's header entry; `not_found` when the file has no such tensor. */
  get(name: string): TensorInfo;
  /**
   * The tensor in memory. With `into`, its bytes land in that buffer (at least `byteLength`
   * bytes, aligned for the dtype) and `data` views it: the caller reuses one buffer across
   * tensors instead of paying for fresh memory per tensor.
   */
  read(name: string, options?: { into?: Uint8Array }): Promise<SafetensorsTensor>;
  /** The tensor's raw little-endian bytes (in `into` when given). */
  readBytes(name: string, options?: { into?: Uint8Array }): Promise<Uint8Array>;
  /** The tensor's raw bytes as a stream (tensors too large to hold, or to pass on unchanged). */
  stream(name: string): Readable;
  /** Closes the underlying source (the file handle, for local files). */
  close(): Promise<void>;
}

/**
 * Bytes fetched by the first read. Most headers fit, which saves a second round trip on object
 * stores; a larger header is read exactly once its validated length is known.
 */
const HEADER_PREFETCH_BYTES = 64 * 1024;

/** Reads and validates the header of `source`. Nothing of the data buffer is read. */
export async function readSafetensorsHeader(
  source: ByteSource,
  options: OpenSafetensorsOptions = {},
): Promise<SafetensorsHeader> {
  const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (!Number.isSafeInteger(maxHeaderBytes) || maxHeaderBytes < 0) {
    throw invalidInput('maxHeaderBytes', `maxHeaderBytes must be a non-negative integer, got ${maxHeaderBytes}`);
  }
  const size = source.size;
  const prefix = await source.read(0, Math.min(size, HEADER_PREFETCH_BYTES));
  const n = parseHeaderLength(prefix, size, maxHeaderBytes);
  const end = LENGTH_PREFIX_BYTES + n;
  const headerBytes = end <= prefix.byteLength ? prefix.subarray(LENGTH_PREFIX_BYTES, end) : await source.read(LENGTH_PREFIX_BYTES, n);
  return parseHeader(headerBytes, size);
}

/** Opens a safetensors file held by any `ByteSource`; the returned file owns the source. */
export async function openSafetensors(source: ByteSource, options: OpenSafetensorsOptions = {}): Promise<SafetensorsFile> {
  const header = await readSafetensorsHeader(source, options);
  return new HeaderIndexedFile(source, header);
}

/** Opens a local file; the handle is closed on failure here, or by `close()`. */
export async function openSafetensorsFile(path: string, options: OpenSafetensorsOptions = {}): Promise<SafetensorsFile> {
  const source = await openFileSource(path);
  try {
    return await openSafetensors(source, options);
  } catch (err) {
    await source.close();
    throw err;
  }
}

/** Opens an object-store key; tensors are then fetched with ranged GETs. */
export async function openSafetensorsObject(
  store: ObjectStore,
  key: string,
  options: OpenSafetensorsOptions = {},
): Promise<SafetensorsFile> {
  return openSafetensors(await openObjectStoreSource(store, key), options);
}

class HeaderIndexedFile implements SafetensorsFile {
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: readonly TensorInfo[];
  readonly headerLength: number;
  readonly dataStart: number;
  private readonly byName: Map<string, TensorInfo>;

  constructor(
    readonly source: ByteSource,
    header: SafetensorsHeader,
  ) {
    this.metadata = header.metadata;
    this.tensors = header.tensors;
    this.headerLength = header.headerLength;
    this.dataStart = header.dataStart;
    this.byName = new Map(header.tensors.map((t) => [t.name, t]));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  get(name: string): TensorInfo {
    const info = this.byName.get(name);
    if (!info) throw notFound(`tensor "${name}" is not in this safetensors file`, name);
    return info;
  }

  async read(name: string, options: { into?: Uint8Array } = {}): Promise<SafetensorsTensor> {
    const info = this.get(name);
    const bytes = await this.source.read(info.offset, info.byteLength, options.into);
    return { name, dtype: info.dtype, shape: [...info.shape], data: viewTensorData(info.dtype, bytes) } as SafetensorsTensor;
  }

  readBytes(name: string, options: { into?: Uint8Array } = {}): Promise<Uint8Array> {
    const info = this.get(name);
    return this.source.read(info.offset, info.byteLength, options.into);
  }

  stream(name: string): Readable {
    const info = this.get(name);
    return this.source.stream(info.offset, info.byteLength);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<SafetensorsTensor> {
    for (const info of this.tensors) yield await this.read(info.name);
  }

  async close(): Promise<void> {
    await this.source.close?.();
  }
}
