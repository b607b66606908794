/**
 * Domain errors name fields relative to what the domain saw (`slides[3].features.UNI`,
 * `config.d`); the API names them from the request (`body.slides[3].features.UNI`).
 */
import { WeightsmithError, isWeightsmithError } from '@weightsmith/core';

const joinField = (prefix: string, field: string): string => (field.startsWith('[') ? `${prefix}${field}` : `${prefix}.${field}`);

/** Re-raises a WeightsmithError with every field under `prefix` (unless already there); others pass as they are. */
export function underField(prefix: string): (err: unknown) => never {
  return (err: unknown): never => {
    if (!isWeightsmithError(err)) throw err;
    const fix = (f: string): string => (f === prefix || f.startsWith(`${prefix}.`) || f.startsWith(`${prefix}[`) ? f : joinField(prefix, f));
    throw new WeightsmithError(err.code, err.message, {
      ...(err.field === undefined ? {} : { field: fix(err.field) }),
      issues: err.issues.map((i) => ({ field: fix(i.field), message: i.message })),
      ...(err.retryAfter === undefined ? {} : { retryAfter: err.retryAfter }),
      cause: err,
    });
  };
}
