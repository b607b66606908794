import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';

/** A dense row-major matrix as the linear-algebra functions accept it. */
export type MatrixData = Float32Array | Float64Array;

function checkDim(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw invalidInput(field, `${field} must be a non-negative integer, got ${value}`);
}

/**
 * Validates a row-major m×n matrix at the edge of a linear-algebra routine: dimensions are
 * non-negative integers, the array is F32/F64 with exactly m·n elements (shape_mismatch naming
 * both otherwise) and, when `finite`, holds no NaN or ±Inf (non_finite naming the entry).
 */
export function checkMatrix(a: MatrixData, m: number, n: number, name: string, finite: boolean): void {
  checkDim(m, `${name}.rows`);
  checkDim(n, `${name}.cols`);
  if (!(a instanceof Float32Array || a instanceof Float64Array)) {
    throw invalidInput(name, `${name} must be a Float32Array or Float64Array`);
  }
  if (m * n > Number.MAX_SAFE_INTEGER || a.length !== m * n) {
    throw new WeightsmithError(
      ErrorCode.ShapeMismatch,
      `${name}: a ${m}×${n} matrix needs ${m * n} elements but the array has ${a.length}`,
      { field: name },
    );
  }
  if (!finite) return;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (v - v !== 0) {
      const row = n === 0 ? 0 : Math.floor(i / n);
      throw new WeightsmithError(
        ErrorCode.NonFinite,
        `${name}[${row}, ${i - row * n}] is ${v}; the matrix must be finite`,
        { field: name },
      );
    }
  }
}
