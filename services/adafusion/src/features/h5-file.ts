/**
 * h5wasm plumbing. h5wasm works on files inside its in-memory Emscripten file system, so bytes
 * are written there under a unique name, opened, used synchronously, closed and unlinked;
 * nothing touches the real disk.
 */
import type { Dataset, File as H5File, Group } from 'h5wasm';
import { ErrorCode, WeightsmithError } from '@weightsmith/core';
import type { StoredValues } from './convert.js';

let sequence = 0;

function uniqueName(): string {
  sequence += 1;
  return `/weightsmith-${process.pid}-${sequence}.h5`;
}

type H5Lib = typeof import('h5wasm');

/**
 * Which build, and why lazily. h5wasm ships two ESM builds of the same HDF5 wasm: `h5wasm/node`
 * (NODEFS support, which this module never uses: it works in the in-memory file system only) and
 * the universal `h5wasm`. Under tsx the node build took ~4.5 s to import (0.13 s in plain node),
 * in every fresh task worker: tsx's ESM load hook rewrites the dynamic `import()`s of every ES
 * module it loads — node_modules included, uncached — parsing the 4 MB file and building a
 * source map for it, and the node build has one `import("module")`. The universal build has no
 * `import(`, so tsx passes it through untouched (~0.4 s under tsx, as in plain node, wasm
 * compilation included). It is still imported on first use: a task that reads no h5 file does
 * not pay even that. The synchronous helpers below only run inside `withH5File`/`buildH5Bytes`,
 * after `fileSystem()` has loaded it.
 */
let lib: H5Lib | undefined;
let loading: Promise<H5Lib> | undefined;

function loaded(): H5Lib {
  if (lib === undefined) throw new WeightsmithError(ErrorCode.Internal, 'h5wasm is used before it was loaded');
  return lib;
}

async function fileSystem(): Promise<NonNullable<H5Lib['FS']>> {
  loading ??= import('h5wasm').then(async (m) => {
    await m.default.ready;
    return (lib = m);
  });
  const { FS } = await loading;
  if (FS === null) throw new WeightsmithError(ErrorCode.Internal, 'h5wasm loaded without its file system');
  return FS;
}

/**
 * Opens `bytes` read-only and runs `use` on the file; the file is closed and its copy removed
 * whatever happens. Returns undefined from `onUnopenable` when HDF5 refuses the bytes (the
 * library signals that with a negative id rather than an exception).
 */
export async function withH5File<T>(bytes: Uint8Array, use: (file: H5File) => T, onUnopenable: () => Error): Promise<T> {
  const fs = await fileSystem();
  const name = uniqueName();
  fs.writeFile(name, bytes);
  try {
    let file: H5File;
    try {
      file = new (loaded().File)(name, 'r');
    } catch (err) {
      throw Object.assign(onUnopenable(), { cause: err });
    }
    if (file.file_id < 0n) throw onUnopenable();
    try {
      return use(file);
    } finally {
      file.close();
    }
  } finally {
    fs.unlink(name);
  }
}

/**
 * Builds a new HDF5 file with `fill` and returns its bytes. HDF5 stamps object headers with the
 * current time, which would make the same data give different bytes on every run; the library
 * reads the time through `Date.now()` during these synchronous calls, so the clock is pinned to
 * the epoch while they run (no other JavaScript can run in between).
 */
export async function buildH5Bytes(fill: (file: H5File) => void): Promise<Uint8Array> {
  const fs = await fileSystem();
  const name = uniqueName();
  const realNow = Date.now;
  Date.now = () => 0;
  try {
    const file = new (loaded().File)(name, 'w');
    try {
      fill(file);
    } finally {
      file.close();
    }
  } finally {
    Date.now = realNow;
  }
  try {
    return fs.readFile(name);
  } finally {
    fs.unlink(name);
  }
}

/** The dataset called `name` at the root, or in the single first-level group that has one. */
export function findDataset(file: H5File, name: string): Dataset | undefined {
  const h5wasm = loaded();
  const atRoot = file.get(name);
  if (atRoot instanceof h5wasm.Dataset) return atRoot;
  const found: Dataset[] = [];
  for (const key of file.keys()) {
    const entity = file.get(key);
    if (entity instanceof h5wasm.Group) {
      const inner = (entity as Group).get(name);
      if (inner instanceof h5wasm.Dataset) found.push(inner);
    }
  }
  return found.length === 1 ? found[0] : undefined;
}

const H5T_INTEGER = 0;
const H5T_FLOAT = 1;

/** A human name of the dataset's element type, for messages. */
export function describeDtype(ds: Dataset): string {
  const { type, size, signed } = ds.metadata;
  if (type === H5T_FLOAT) return `float${size * 8}`;
  if (type === H5T_INTEGER) return `${signed ? 'int' : 'uint'}${size * 8}`;
  return `HDF5 type class ${type}`;
}

/**
 * The dataset's values. h5wasm's own reader has no 16-bit float, so those are read as raw
 * (little-endian: the library converts the byte order on read) bits through the C API.
 */
export function readDatasetValues(ds: Dataset): StoredValues | undefined {
  const { type, size } = ds.metadata;
  if (type === H5T_FLOAT && size === 2) return { kind: 'f16', bits: readRawUint16(ds) };
  if (type !== H5T_FLOAT && type !== H5T_INTEGER) return undefined;
  if (type === H5T_FLOAT && size !== 4 && size !== 8) return undefined;
  const value = ds.value;
  if (value instanceof BigInt64Array || value instanceof BigUint64Array) return { kind: 'bigint', values: value };
  if (
    value instanceof Float32Array ||
    value instanceof Float64Array ||
    value instanceof Int8Array ||
    value instanceof Uint8Array ||
    value instanceof Int16Array ||
    value instanceof Uint16Array ||
    value instanceof Int32Array ||
    value instanceof Uint32Array
  ) {
    return { kind: 'number', values: value };
  }
  return undefined;
}

function readRawUint16(ds: Dataset): Uint16Array {
  const count = ds.metadata.total_size;
  const nbytes = count * 2;
  const { Module } = loaded();
  const ptr = Module._malloc(nbytes);
  if (ptr === 0) throw new WeightsmithError(ErrorCode.TooLarge, `cannot allocate ${nbytes} bytes for dataset ${ds.path}`);
  try {
    Module.get_dataset_data(ds.file_id, ds.path, null, null, null, BigInt(ptr));
    const copy = Module.HEAPU8.slice(ptr, ptr + nbytes);
    return new Uint16Array(copy.buffer, copy.byteOffset, count);
  } finally {
    Module._free(ptr);
  }
}
