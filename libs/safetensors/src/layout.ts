/**
 * Writer planning, pure: validates what is about to be written and fixes the file's layout
 * (order, offsets, header bytes, total size) from sizes alone, before any tensor bytes exist.
 *
 * Order: the reference writer's — dtype alignment descending (the reference `Dtype` enum order,
 * U64/I64/F64 first, BOOL last), then name by UTF-8 byte order. With the data buffer starting at a
 * multiple of 8, this keeps every tensor aligned to its element size, and the same tensors always
 * give the same bytes whatever order the caller listed them in. The header JSON is compact with
 * `__metadata__` first (keys sorted; omitted when empty) and each entry as
 * `{"dtype","shape","data_offsets"}`, padded with spaces to a multiple of 8 bytes.
 */
import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';
import { dtypeRank, isSafetensorsDType, viewElementBytes, SAFETENSORS_DTYPES, type SafetensorsDType } from './dtype.js';
import { DEFAULT_MAX_HEADER_BYTES, LENGTH_PREFIX_BYTES, METADATA_KEY, tensorByteSize, type TensorInfo } from './header.js';

/** What a producer may hand back: the whole tensor, or its bytes in chunks. */
export type TensorChunks = ArrayBufferView | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/**
 * Called when the writer reaches the tensor (never earlier), so tensors can be computed or
 * fetched one at a time; the bytes must total exactly the size implied by dtype × shape.
 */
export type TensorProducer = () => TensorChunks | Promise<TensorChunks>;

interface TensorToWriteBase {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
}

/** A tensor whose little-endian bytes are already in memory (any typed array or DataView). */
export interface TensorWithData extends TensorToWriteBase {
  data: ArrayBufferView;
}

/** A tensor produced lazily. `byteLength`, when given, is checked against dtype × shape. */
export interface TensorWithProducer extends TensorToWriteBase {
  byteLength?: number;
  producer: TensorProducer;
}

export type TensorToWrite = TensorWithData | TensorWithProducer;

export interface PlannedTensor {
  spec: TensorToWrite;
  info: TensorInfo;
}

export interface SafetensorsLayout {
  /** The 8-byte length prefix followed by the padded JSON header. */
  header: Uint8Array;
  /** N, the padded JSON header's length. */
  headerLength: number;
  /** Exact size of the whole file in bytes. */
  totalSize: number;
  /** Tensors in write (file) order. */
  tensors: PlannedTensor[];
}

const utf8 = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** UTF-8 cannot encode a lone surrogate; it would come back as U+FFFD under another name. */
function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function checkName(name: unknown, index: number): string {
  const field = `tensors[${index}].name`;
  if (typeof name !== 'string' || name.length === 0) throw invalidInput(field, `tensor name must be a non-empty string`);
  if (name === METADATA_KEY) throw invalidInput(field, `tensor name "${METADATA_KEY}" is reserved for file metadata`);
  if (!isWellFormed(name)) throw invalidInput(field, `tensor name ${JSON.stringify(name)} has a lone UTF-16 surrogate`);
  return name;
}

/** Rejects data typed arrays whose element width does not fit the dtype (bytes are always fine). */
function checkDataKind(name: string, dtype: SafetensorsDType, data: ArrayBufferView, field: string): void {
  const width = (data as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT;
  if (width !== undefined && width !== 1 && width !== viewElementBytes(dtype)) {
    throw invalidInput(field, `tensor "${name}": ${dtype} data given as ${data.constructor.name} (${width}-byte elements)`);
  }
}

function checkTensor(spec: TensorToWrite, index: number): { name: string; byteLength: number } {
  if (typeof spec !== 'object' || spec === null) throw invalidInput(`tensors[${index}]`, 'tensor must be an object');
  const name = checkName(spec.name, index);
  const field = `tensors.${name}`;
  if (!isSafetensorsDType(spec.dtype)) {
    throw invalidInput(`${field}.dtype`, `tensor "${name}": unknown dtype ${JSON.stringify(spec.dtype)} (known: ${SAFETENSORS_DTYPES.join(', ')})`);
  }
  if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw invalidInput(`${field}.shape`, `tensor "${name}": shape must be an array of non-negative integers, got ${JSON.stringify(spec.shape)}`);
  }
  const size = tensorByteSize(spec.dtype, spec.shape);
  if ('problem' in size) throw invalidInput(`${field}.shape`, `tensor "${name}": ${size.problem}`);
  const expected = size.bytes;

  if ('data' in spec) {
    if (!ArrayBuffer.isView(spec.data)) throw invalidInput(`${field}.data`, `tensor "${name}": data must be a typed array or DataView`);
    checkDataKind(name, spec.dtype, spec.data, `${field}.data`);
    if (spec.data.byteLength !== expected) {
      throw new WeightsmithError(
        ErrorCode.ShapeMismatch,
        `tensor "${name}": ${spec.dtype} shape [${spec.shape.join(', ')}] needs ${expected} bytes, data has ${spec.data.byteLength}`,
        { field: `${field}.data` },
      );
    }
  } else if (typeof (spec as Partial<TensorWithProducer>).producer === 'function') {
    if (spec.byteLength !== undefined && spec.byteLength !== expected) {
      throw new WeightsmithError(
        ErrorCode.ShapeMismatch,
        `tensor "${name}": ${spec.dtype} shape [${spec.shape.join(', ')}] needs ${expected} bytes, byteLength says ${spec.byteLength}`,
        { field: `${field}.byteLength` },
      );
    }
  } else {
    throw invalidInput(field, `tensor "${name}": give either data or a producer function`);
  }
  return { name, byteLength: expected };
}

function checkMetadata(metadata: unknown): Array<[string, string]> {
  if (metadata === undefined) return [];
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw invalidInput('metadata', 'metadata must be an object of string values');
  }
  const entries = Object.entries(metadata);
  for (const [key, value] of entries) {
    if (typeof value !== 'string') throw invalidInput(`metadata.${key}`, `metadata "${key}" must be a string, got ${typeof value}`);
    if (!isWellFormed(key) || !isWellFormed(value)) {
      throw invalidInput(`metadata.${key}`, `metadata "${key}" has a lone UTF-16 surrogate`);
    }
  }
  return entries.sort(([a], [b]) => compareUtf8(a, b));
}

/** Validates `tensors` and `metadata` and computes the complete layout. Throws before any I/O. */
export function planSafetensors(tensors: readonly TensorToWrite[], metadata?: Readonly<Record<string, string>>): SafetensorsLayout {
  if (!Array.isArray(tensors)) throw invalidInput('tensors', 'tensors must be an array');
  const checked = tensors.map((spec, i) => ({ spec, ...checkTensor(spec, i) }));
  const seen = new Set<string>();
  for (const t of checked) {
    if (seen.has(t.name)) throw invalidInput(`tensors.${t.name}`, `tensor name "${t.name}" appears more than once`);
    seen.add(t.name);
  }
  const metaEntries = checkMetadata(metadata);

  checked.sort((a, b) => dtypeRank(b.spec.dtype) - dtypeRank(a.spec.dtype) || compareUtf8(a.name, b.name));

  const parts: string[] = [];
  if (metaEntries.length > 0) {
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${metaEntries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  }
  let offset = 0;
  const planned: Array<Omit<PlannedTensor, 'info'> & { begin: number; end: number; name: string }> = [];
  for (const t of checked) {
    const begin = offset;
    offset += t.byteLength;
    if (!Number.isSafeInteger(offset)) throw invalidInput('tensors', 'total data size overflows');
    planned.push({ spec: t.spec, begin, end: offset, name: t.name });
    parts.push(
      `${JSON.stringify(t.name)}:{"dtype":${JSON.stringify(t.spec.dtype)},"shape":[${t.spec.shape.join(',')}],"data_offsets":[${begin},${offset}]}`,
    );
  }
  const json = utf8.encode(`{${parts.join(',')}}`);
  const headerLength = json.byteLength + ((8 - (json.byteLength % 8)) % 8);
  if (headerLength > DEFAULT_MAX_HEADER_BYTES) {
    // Readers (this one and the reference) refuse such a header, so do not write it.
    throw new WeightsmithError(
      ErrorCode.TooLarge,
      `safetensors header would be ${headerLength} bytes, over the ${DEFAULT_MAX_HEADER_BYTES}-byte limit readers accept`,
      { field: 'tensors' },
    );
  }
  const header = new Uint8Array(LENGTH_PREFIX_BYTES + headerLength).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(headerLength), true);
  header.set(json, LENGTH_PREFIX_BYTES);

  const dataStart = LENGTH_PREFIX_BYTES + headerLength;
  return {
    header,
    headerLength,
    totalSize: dataStart + offset,
    tensors: planned.map((p) => ({
      spec: p.spec,
      info: {
        name: p.name,
        dtype: p.spec.dtype,
        shape: [...p.spec.shape],
        dataOffsets: [p.begin, p.end],
        byteLength: p.end - p.begin,
        offset: dataStart + p.begin,
      },
    })),
  };
}
