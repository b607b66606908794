/**
 * Header parsing and validation, pure: bytes in, a checked table of contents out. Every rule of
 * the reference reader (huggingface/safetensors `SafeTensors::read_metadata` and
 * `Metadata::validate`) is enforced here, plus the stricter ones it leaves to serde (exact field
 * sets, duplicate names), so a file that passes can be read without any further bounds checks.
 */
import { ErrorCode, WeightsmithError, invalidFormat } from '@weightsmith/core';
import { SAFETENSORS_DTYPES, dtypeBits, isSafetensorsDType, type SafetensorsDType } from './dtype.js';
import { findDuplicateKey } from './json-keys.js';

/** The reference implementation's cap on the JSON header (bytes). */
export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;
/** Width of the little-endian u64 header length that opens every file. */
export const LENGTH_PREFIX_BYTES = 8;
export const METADATA_KEY = '__metadata__';

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** `[begin, end)` relative to the start of the data buffer, as written in the header. */
  dataOffsets: [number, number];
  byteLength: number;
  /** Absolute offset of the tensor's first byte in the file (8 + header length + begin). */
  offset: number;
}

export interface SafetensorsHeader {
  /** N, the JSON header's length in bytes (padding included). */
  headerLength: number;
  /** Absolute offset where the data buffer starts (8 + N). */
  dataStart: number;
  /** Bytes in the data buffer (file size − 8 − N). */
  dataLength: number;
  metadata: Record<string, string>;
  /** Tensors in file order (increasing data offset). */
  tensors: TensorInfo[];
}

const FIELDS = ['dtype', 'shape', 'data_offsets'] as const;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

const tensorError = (name: string, message: string): WeightsmithError =>
  invalidFormat(`safetensors header: tensor "${name}": ${message}`, name);

/**
 * Reads N from the 8-byte prefix and checks it against the cap and the file size. `prefix` must
 * hold at least the first 8 bytes when the file has them.
 */
export function parseHeaderLength(prefix: Uint8Array, fileSize: number, maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES): number {
  if (fileSize < LENGTH_PREFIX_BYTES || prefix.byteLength < LENGTH_PREFIX_BYTES) {
    throw invalidFormat(
      `safetensors: file is ${fileSize} bytes, shorter than the 8-byte header length prefix`,
      'header_length',
    );
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, LENGTH_PREFIX_BYTES).getBigUint64(0, true);
  if (n > BigInt(maxHeaderBytes)) {
    throw new WeightsmithError(
      ErrorCode.TooLarge,
      `safetensors: header length ${n} exceeds the cap of ${maxHeaderBytes} bytes`,
      { field: 'header_length' },
    );
  }
  const available = fileSize - LENGTH_PREFIX_BYTES;
  if (n > BigInt(available)) {
    throw invalidFormat(
      `safetensors: header length ${n} exceeds the ${available} bytes after the length prefix (file truncated or not safetensors)`,
      'header_length',
    );
  }
  return Number(n);
}

/**
 * Decodes and validates the JSON header. `headerBytes` are exactly the N header bytes;
 * `fileSize` is the whole file's size, used to check that the tensors cover the data buffer
 * exactly.
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number): SafetensorsHeader {
  const headerLength = headerBytes.byteLength;
  const dataStart = LENGTH_PREFIX_BYTES + headerLength;
  const dataLength = fileSize - dataStart;
  const root = decodeHeaderJson(headerBytes);

  let metadata: Record<string, string> = {};
  const entries: Array<Omit<TensorInfo, 'offset'>> = [];
  for (const [key, value] of Object.entries(root)) {
    if (key === METADATA_KEY) metadata = checkMetadata(value);
    else entries.push(checkEntry(key, value));
  }

  // File order is data order; ties (zero-size tensors sharing an offset) break by name so the
  // listing is deterministic whatever order the JSON used.
  entries.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1] || compareNames(a.name, b.name));
  checkContiguous(entries, dataLength);

  return {
    headerLength,
    dataStart,
    dataLength,
    metadata,
    tensors: entries.map((e) => ({ ...e, offset: dataStart + e.dataOffsets[0] })),
  };
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function decodeHeaderJson(headerBytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = utf8.decode(headerBytes);
  } catch (cause) {
    throw new WeightsmithError(ErrorCode.InvalidFormat, 'safetensors header: not valid UTF-8', { field: 'header', cause });
  }
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (cause) {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    throw new WeightsmithError(ErrorCode.InvalidFormat, `safetensors header: not valid JSON${detail}`, { field: 'header', cause });
  }
  if (!isPlainObject(root)) {
    throw invalidFormat(`safetensors header: must be a JSON object, got ${describe(root)}`, 'header');
  }
  // JSON.parse accepts leading whitespace; the format (and the reference's InvalidHeaderStart)
  // requires the object to open on the first byte. Padding is only allowed after it.
  if (headerBytes[0] !== 0x7b) {
    throw invalidFormat(
      `safetensors header: must start with '{', found byte 0x${(headerBytes[0] ?? 0).toString(16).padStart(2, '0')}`,
      'header',
    );
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate) {
    const [tensor, ...rest] = duplicate.path;
    if (tensor === undefined) {
      throw tensorError(duplicate.key, 'appears more than once in the header (duplicate tensor name)');
    }
    const where = tensor === METADATA_KEY ? METADATA_KEY : `tensor "${tensor}"`;
    const inner = rest.length > 0 ? ` (under ${rest.join('.')})` : '';
    throw invalidFormat(
      `safetensors header: ${where} repeats the key "${duplicate.key}"${inner}`,
      tensor === METADATA_KEY ? METADATA_KEY : tensor,
    );
  }
  return root;
}

function checkMetadata(value: unknown): Record<string, string> {
  if (!isPlainObject(value)) {
    throw invalidFormat(`safetensors header: ${METADATA_KEY} must be an object of strings, got ${describe(value)}`, METADATA_KEY);
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw invalidFormat(
        `safetensors header: ${METADATA_KEY}["${key}"] must be a string, got ${describe(v)}`,
        `${METADATA_KEY}.${key}`,
      );
    }
  }
  return value as Record<string, string>;
}

function checkEntry(name: string, value: unknown): Omit<TensorInfo, 'offset'> {
  if (!isPlainObject(value)) {
    throw tensorError(name, `entry must be an object with dtype, shape and data_offsets, got ${describe(value)}`);
  }
  const missing = FIELDS.filter((f) => !Object.hasOwn(value, f));
  if (missing.length > 0) throw tensorError(name, `entry is missing ${missing.join(', ')}`);
  const extra = Object.keys(value).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (extra.length > 0) {
    throw tensorError(name, `entry has unknown field(s) ${extra.join(', ')} (allowed: ${FIELDS.join(', ')})`);
  }

  const { dtype, shape, data_offsets: offsets } = value;
  if (!isSafetensorsDType(dtype)) {
    throw tensorError(name, `unknown dtype ${JSON.stringify(dtype)} (known: ${SAFETENSORS_DTYPES.join(', ')})`);
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw tensorError(name, `shape must be an array of non-negative safe integers, got ${JSON.stringify(shape)}`);
  }
  const size = tensorByteSize(dtype, shape);
  if ('problem' in size) throw tensorError(name, size.problem);
  const byteLength = size.bytes;

  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw tensorError(name, `data_offsets must be two non-negative safe integers [begin, end], got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw tensorError(name, `data_offsets [${begin}, ${end}] has begin > end`);
  if (end - begin !== byteLength) {
    throw tensorError(
      name,
      `data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtype} shape [${shape.join(', ')}] needs ${byteLength} bytes`,
    );
  }
  return { name, dtype, shape: [...shape], dataOffsets: [begin, end], byteLength };
}

/**
 * Bytes needed by `shape` elements of `dtype`, or why that size is not representable. Fails
 * (like the reference's checked multiplications) as soon as a partial product leaves the range
 * of exactly representable integers, and when sub-byte elements do not fill whole bytes.
 */
export function tensorByteSize(dtype: SafetensorsDType, shape: readonly number[]): { bytes: number } | { problem: string } {
  let numel = 1;
  for (const d of shape) {
    if (d !== 0 && numel > Number.MAX_SAFE_INTEGER / d) {
      return { problem: `element count of shape [${shape.join(', ')}] overflows` };
    }
    numel *= d;
  }
  const bits = dtypeBits(dtype);
  if (numel > Number.MAX_SAFE_INTEGER / bits) {
    return { problem: `byte length of ${dtype} shape [${shape.join(', ')}] overflows` };
  }
  const totalBits = numel * bits;
  if (totalBits % 8 !== 0) {
    return { problem: `${numel} elements of ${dtype} (${bits} bits each) do not fill whole bytes` };
  }
  return { bytes: totalBits / 8 };
}

function checkContiguous(entries: ReadonlyArray<Omit<TensorInfo, 'offset'>>, dataLength: number): void {
  let end = 0;
  let previous: Omit<TensorInfo, 'offset'> | undefined;
  for (const e of entries) {
    const [b, en] = e.dataOffsets;
    if (previous && b < end) {
      throw tensorError(
        e.name,
        `data_offsets [${b}, ${en}] overlap tensor "${previous.name}" [${previous.dataOffsets[0]}, ${previous.dataOffsets[1]}]`,
      );
    }
    if (b !== end) {
      throw tensorError(
        e.name,
        previous
          ? `data_offsets begin at ${b} but the previous tensor "${previous.name}" ends at ${end}: offsets must be contiguous (gap of ${b - end} bytes)`
          : `data_offsets begin at ${b} but the first tensor must begin at 0: offsets must be contiguous`,
      );
    }
    end = en;
    previous = e;
  }
  if (end < dataLength) {
    throw invalidFormat(
      `safetensors: data buffer is ${dataLength} bytes but the tensors cover only ${end}: ${dataLength - end} trailing bytes`,
      previous?.name ?? 'data',
    );
  }
  if (end > dataLength) {
    throw tensorError(
      previous?.name ?? '',
      `data ends at ${end} but the data buffer holds only ${dataLength} bytes (file truncated)`,
    );
  }
}
