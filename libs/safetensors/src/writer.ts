/**
 * Streaming safetensors writer. The header is computed from sizes alone (see `layout.ts`), then
 * tensors are written one at a time, each producer called only when its turn comes, so peak
 * memory is one tensor (or one chunk, for producers that yield chunks) whatever the file size.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';
import type { ObjectStore, PutOptions, PutResult } from '@weightsmith/store';
import type { TensorInfo } from './header.js';
import { planSafetensors, type PlannedTensor, type SafetensorsLayout, type TensorChunks, type TensorToWrite } from './layout.js';

export interface WriteResult {
  /** Bytes written (the whole file). */
  bytes: number;
  headerLength: number;
  /** The written tensors in file order, with their offsets. */
  tensors: TensorInfo[];
}

export interface SafetensorsStream extends WriteResult {
  /** The file's bytes; `bytes` is its exact length, known before the first byte is produced. */
  stream: Readable;
}

function asBytes(view: ArrayBufferView): Uint8Array {
  return view instanceof Uint8Array ? view : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

async function* normalizeChunks(produced: TensorChunks, name: string): AsyncGenerator<Uint8Array> {
  // Typed arrays are iterable too (of numbers), so test for a whole-tensor view first.
  if (ArrayBuffer.isView(produced)) {
    yield asBytes(produced);
    return;
  }
  if (typeof produced !== 'object' || produced === null || !(Symbol.asyncIterator in produced || Symbol.iterator in produced)) {
    throw invalidInput(`tensors.${name}.producer`, `tensor "${name}": producer must return a typed array or an (async) iterable of Uint8Array`);
  }
  for await (const chunk of produced) {
    if (!ArrayBuffer.isView(chunk)) {
      throw invalidInput(`tensors.${name}.producer`, `tensor "${name}": producer yielded a ${typeof chunk}, not a Uint8Array`);
    }
    yield asBytes(chunk);
  }
}

/** One tensor's bytes, checked to total exactly the planned length. */
async function* tensorChunks({ spec, info }: PlannedTensor): AsyncGenerator<Uint8Array> {
  if ('data' in spec) {
    yield asBytes(spec.data);
    return;
  }
  const mismatch = (got: string): WeightsmithError =>
    new WeightsmithError(
      ErrorCode.ShapeMismatch,
      `tensor "${info.name}": producer gave ${got} bytes, ${info.dtype} shape [${info.shape.join(', ')}] needs ${info.byteLength}`,
      { field: `tensors.${info.name}` },
    );
  let written = 0;
  for await (const chunk of normalizeChunks(await spec.producer(), info.name)) {
    written += chunk.byteLength;
    if (written > info.byteLength) throw mismatch(`more than ${info.byteLength}`);
    if (chunk.byteLength > 0) yield chunk;
  }
  if (written !== info.byteLength) throw mismatch(String(written));
}

async function* fileChunks(layout: SafetensorsLayout): AsyncGenerator<Uint8Array> {
  yield layout.header;
  for (const planned of layout.tensors) yield* tensorChunks(planned);
}

function resultOf(layout: SafetensorsLayout): WriteResult {
  return { bytes: layout.totalSize, headerLength: layout.headerLength, tensors: layout.tensors.map((t) => t.info) };
}

/**
 * Validates and lays out the file now (throwing synchronously on bad input) and returns its
 * exact size with a stream that produces it lazily: hand both to `ObjectStore.put(key, stream,
 * {size})`, an HTTP response with Content-Length, or any Writable.
 */
export function createSafetensorsStream(
  tensors: readonly TensorToWrite[],
  metadata?: Readonly<Record<string, string>>,
): SafetensorsStream {
  const layout = planSafetensors(tensors, metadata);
  return { ...resultOf(layout), stream: Readable.from(fileChunks(layout), { objectMode: false }) };
}

/**
 * Writes a safetensors file to `sink`: a file path (atomically: a temporary file in the same
 * folder, fsynced, then renamed over the target; nothing is left behind on failure) or a
 * Writable (ended when done; on failure it is destroyed with the error).
 */
export async function writeSafetensors(
  sink: Writable | string,
  tensors: readonly TensorToWrite[],
  metadata?: Readonly<Record<string, string>>,
): Promise<WriteResult> {
  const layout = planSafetensors(tensors, metadata);
  if (typeof sink === 'string') await writeFileAtomic(sink, fileChunks(layout));
  else await pipeline(Readable.from(fileChunks(layout), { objectMode: false }), sink);
  return resultOf(layout);
}

/** Streams a safetensors file into an object store under `key`, passing the exact size upfront. */
export async function putSafetensors(
  store: ObjectStore,
  key: string,
  tensors: readonly TensorToWrite[],
  metadata?: Readonly<Record<string, string>>,
  options: PutOptions = {},
): Promise<PutResult & { tensors: TensorInfo[]; headerLength: number }> {
  const { stream, bytes, tensors: infos, headerLength } = createSafetensorsStream(tensors, metadata);
  const put = await store.put(key, stream, { ...options, size: bytes });
  return { ...put, tensors: infos, headerLength };
}

/** The whole file in memory: for small files (tests, fixtures, in-memory responses). */
export async function serializeSafetensors(
  tensors: readonly TensorToWrite[],
  metadata?: Readonly<Record<string, string>>,
): Promise<Uint8Array> {
  const layout = planSafetensors(tensors, metadata);
  const out = new Uint8Array(layout.totalSize);
  let at = 0;
  for await (const chunk of fileChunks(layout)) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

/** Small chunks are gathered into one buffer of this size before hitting the file. */
const COALESCE_BYTES = 1 << 20;
const MAX_WRITE_CALL_BYTES = 1 << 30;

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, Math.min(bytes.byteLength - done, MAX_WRITE_CALL_BYTES));
    done += bytesWritten;
  }
}

async function writeFileAtomic(path: string, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx');
  let closed = false;
  try {
    const pending = new Uint8Array(COALESCE_BYTES);
    let used = 0;
    for await (const chunk of chunks) {
      if (chunk.byteLength >= COALESCE_BYTES / 2) {
        if (used > 0) await writeAll(handle, pending.subarray(0, used));
        used = 0;
        await writeAll(handle, chunk);
        continue;
      }
      if (used + chunk.byteLength > COALESCE_BYTES) {
        await writeAll(handle, pending.subarray(0, used));
        used = 0;
      }
      pending.set(chunk, used);
      used += chunk.byteLength;
    }
    if (used > 0) await writeAll(handle, pending.subarray(0, used));
    await handle.sync();
    closed = true;
    await handle.close();
    await rename(temp, path);
  } catch (err) {
    if (!closed) await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw err;
  }
}
