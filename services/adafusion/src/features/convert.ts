/**
 * Widening of whatever element type a file stores into the two types the domain uses: f32
 * features and f64 coordinates. f16/bf16 arrive as raw bit patterns (JS has no such arrays).
 */
import { bf16ToF32, f16ToF32 } from '@weightsmith/tensor';
import type { FeatureFileContext } from './slide-checks.js';
import { formatError } from './slide-checks.js';

/** Values as a container hands them over; `f16`/`bf16` are raw bits. */
export type StoredValues =
  | { kind: 'number'; values: Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array }
  | { kind: 'bigint'; values: BigInt64Array | BigUint64Array }
  | { kind: 'f16' | 'bf16'; bits: Uint16Array };

export function toFeatureArray(stored: StoredValues, ctx: FeatureFileContext): Float32Array {
  switch (stored.kind) {
    case 'f16':
      return f16ToF32(stored.bits);
    case 'bf16':
      return bf16ToF32(stored.bits);
    case 'number':
      if (stored.values instanceof Float32Array) return stored.values;
      if (stored.values instanceof Float64Array) return Float32Array.from(stored.values);
      throw formatError(ctx, `dataset "features" holds integers (${stored.values.constructor.name}); expected floating point`);
    case 'bigint':
      throw formatError(ctx, `dataset "features" holds 64-bit integers; expected floating point`);
  }
}

export function toCoordArray(stored: StoredValues, ctx: FeatureFileContext): Float64Array {
  switch (stored.kind) {
    case 'f16':
      return Float64Array.from(f16ToF32(stored.bits));
    case 'bf16':
      return Float64Array.from(bf16ToF32(stored.bits));
    case 'number':
      return stored.values instanceof Float64Array ? stored.values : Float64Array.from(stored.values);
    case 'bigint': {
      const out = new Float64Array(stored.values.length);
      for (let i = 0; i < out.length; i++) {
        const v = stored.values[i]!;
        // Coordinates beyond 2^53 cannot be compared exactly as numbers; no slide is that large.
        if (v > 9007199254740991n || v < -9007199254740991n) {
          throw formatError(ctx, `dataset "coords" value ${v} at tile ${Math.floor(i / 2)} is too large for exact alignment`);
        }
        out[i] = Number(v);
      }
      return out;
    }
  }
}
