import { ErrorCode, WeightsmithError, isWeightsmithError, type FieldIssue } from '@weightsmith/core';

/**
 * Problems collected across a whole request, each with its own code, thrown as one
 * `WeightsmithError` so the user sees everything wrong at once.
 */
export class IssueCollector {
  private readonly items: (FieldIssue & { code: ErrorCode })[] = [];

  add(code: ErrorCode, field: string, message: string): void {
    this.items.push({ code, field, message });
  }

  /** Takes over the issues of a domain error (or its message when it has none). */
  addError(err: WeightsmithError, field: string): void {
    if (err.issues.length === 0) this.add(err.code, err.field ?? field, err.message);
    for (const issue of err.issues) this.add(err.code, issue.field, issue.message);
  }

  /** Domain errors become issues; anything else (store down, bugs) propagates. */
  capture(err: unknown, field: string): void {
    if (isWeightsmithError(err) && !RETHROWN.has(err.code)) this.addError(err, field);
    else throw err;
  }

  /**
   * Like `capture`, but every issue is filed under `field`: errors from an injected resolver
   * name its own fields (a key), which mean nothing in the request.
   */
  captureAt(err: unknown, field: string, prefix: string): void {
    if (isWeightsmithError(err) && !RETHROWN.has(err.code)) this.add(err.code, field, `${prefix}: ${err.message}`);
    else throw err;
  }

  get size(): number {
    return this.items.length;
  }

  throwIfAny(what: string): void {
    if (this.items.length === 0) return;
    const codes = new Set(this.items.map((i) => i.code));
    // One code for the whole answer: the shared one, or invalid_input when the problems differ.
    const code = codes.size === 1 ? [...codes][0]! : ErrorCode.InvalidInput;
    const first = this.items[0]!;
    const count = this.items.length;
    throw new WeightsmithError(code, `${what}: ${count} problem${count > 1 ? 's' : ''}; first: ${first.message}`, {
      field: first.field,
      issues: this.items.map(({ field, message }) => ({ field, message })),
    });
  }
}

/** Failures that are not the request's fault: they must surface as themselves (503, 500). */
const RETHROWN = new Set<ErrorCode>([ErrorCode.StoreUnavailable, ErrorCode.Internal, ErrorCode.Cancelled, ErrorCode.Unauthorized]);
