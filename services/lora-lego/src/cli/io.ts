/** The streams a command writes to; `main.ts` passes process.stdout/stderr. */
import type { ProgressSink } from './progress.js';

export interface CliIO {
  stdout: { write(text: string): unknown };
  stderr: ProgressSink;
  /** Aborted on Ctrl-C: the merge stops at the next module and nothing is written. */
  signal?: AbortSignal;
}
