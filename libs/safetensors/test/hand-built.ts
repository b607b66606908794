/**
 * Builds safetensors bytes by hand, straight from the format description, so reader tests do
 * not depend on the library's own writer: an 8-byte little-endian u64 header length, the header
 * bytes, then the data buffer.
 */
import assert from 'node:assert/strict';
import { isWeightsmithError, type ErrorCode } from '@weightsmith/core';

const enc = new TextEncoder();

export interface RawFileOptions {
  /** Data buffer bytes (default none). */
  data?: Uint8Array;
  /** Pad the header text with spaces to a multiple of 8 bytes, as the reference writer does. */
  pad?: boolean;
  /** Write this value as the header length instead of the real one. */
  declaredLength?: bigint;
}

export function rawFile(header: string | Uint8Array, options: RawFileOptions = {}): Uint8Array {
  let headerBytes = typeof header === 'string' ? enc.encode(header) : header;
  if (options.pad) {
    const padded = new Uint8Array(Math.ceil(headerBytes.byteLength / 8) * 8).fill(0x20);
    padded.set(headerBytes);
    headerBytes = padded;
  }
  const data = options.data ?? new Uint8Array(0);
  const out = new Uint8Array(8 + headerBytes.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, options.declaredLength ?? BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.byteLength);
  return out;
}

/** Little-endian float32 bytes written one value at a time with DataView. */
export function f32le(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  return out;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Asserts that `promise` rejects with a WeightsmithError of `code` whose message contains `text`. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: ErrorCode,
  text: string,
  field?: string,
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isWeightsmithError(err), `expected a WeightsmithError, got ${String(err)}`);
    assert.equal(err.code, code, `code of: ${err.message}`);
    assert.ok(err.message.includes(text), `message ${JSON.stringify(err.message)} should contain ${JSON.stringify(text)}`);
    if (field !== undefined) assert.equal(err.field, field);
    return true;
  });
}

export function throwsWith(fn: () => unknown, code: ErrorCode, text: string, field?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isWeightsmithError(err), `expected a WeightsmithError, got ${String(err)}`);
    assert.equal(err.code, code, `code of: ${err.message}`);
    assert.ok(err.message.includes(text), `message ${JSON.stringify(err.message)} should contain ${JSON.stringify(text)}`);
    if (field !== undefined) assert.equal(err.field, field);
    return true;
  });
}
