import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { isWeightsmithError, type ErrorCode } from '@weightsmith/core';

/** Asserts that `promise` rejects with a WeightsmithError of `code` (and `field` when given). */
export async function rejectsWith(
  promise: Promise<unknown> | (() => unknown),
  code: ErrorCode,
  field?: string,
): Promise<void> {
  await assert.rejects(
    async () => (typeof promise === 'function' ? await promise() : await promise),
    (err: unknown) => {
      assert.ok(isWeightsmithError(err), `expected a WeightsmithError, got ${String(err)}`);
      assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`);
      if (field !== undefined) assert.equal(err.field, field, `expected field ${field}, got ${err.field}: ${err.message}`);
      return true;
    },
  );
}

/** Deterministic bytes that differ from chunk to chunk (so misplaced chunks are caught). */
export function patternBytes(length: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    // xorshift32
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function streamOf(chunks: Uint8Array[]): Readable {
  return Readable.from(chunks.map((c) => Buffer.from(c)));
}

export async function collect(stream: Readable): Promise<{ bytes: Buffer; chunks: number; largestChunk: number }> {
  const parts: Buffer[] = [];
  let largestChunk = 0;
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    parts.push(buf);
    largestChunk = Math.max(largestChunk, buf.length);
  }
  return { bytes: Buffer.concat(parts), chunks: parts.length, largestChunk };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
