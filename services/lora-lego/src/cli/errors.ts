/**
 * How the CLI reports failures: the message names the flag the user typed (the merge code names
 * its own fields, `options.nInit`, `adapters.1.weight`…), and the exit code tells a pipeline
 * whether retrying with the same input can help (2: no, the input is wrong; 1: maybe).
 */
import { ErrorCode, isWeightsmithError, type WeightsmithError } from '@weightsmith/core';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_BAD_INPUT = 2;
/** 128 + SIGINT, as shells report an interrupted command. */
export const EXIT_INTERRUPTED = 130;

const BAD_INPUT: ReadonlySet<string> = new Set<string>([
  ErrorCode.InvalidInput,
  ErrorCode.InvalidFormat,
  ErrorCode.ShapeMismatch,
  ErrorCode.NonFinite,
  ErrorCode.TooLarge,
  ErrorCode.NotFound,
  ErrorCode.Conflict,
]);

const OPTION_FLAGS: Record<string, string> = {
  method: '--method',
  k: '--k',
  seed: '--seed',
  dtype: '--dtype',
  'options.nInit': '--n-init',
  'options.maxIter': '--max-iter',
  'options.tol': '--tol',
  'options.metric': '--metric',
  'options.paramNorm': '--param-norm',
  'options.outputScale': '--output-scale',
  'options.density': '--density',
  'options.lambda': '--lambda',
  adapters: '--adapter',
  out: '--out',
  report: '--report',
};

/**
 * The flag a field of the merge API corresponds to: `k` → `--k`, `adapters.1.weight` → the
 * `--weight` of adapter #2, `adapters.0.ref` → `--adapter #1`. Flags (`--k`) map to themselves;
 * fields with no flag (a tensor name) give undefined.
 */
export function flagForField(field: string | undefined): string | undefined {
  if (field === undefined) return undefined;
  if (field.startsWith('-')) return field;
  const adapter = /^adapters\.(\d+)(?:\.(ref|weight))?$/.exec(field);
  if (adapter) {
    const n = Number(adapter[1]) + 1;
    return adapter[2] === 'weight' ? `--weight (of adapter #${n})` : `--adapter #${n}`;
  }
  return OPTION_FLAGS[field];
}

export function exitCodeFor(err: unknown): number {
  if (isAbort(err)) return EXIT_INTERRUPTED;
  if (isWeightsmithError(err) && BAD_INPUT.has(err.code)) return EXIT_BAD_INPUT;
  return EXIT_FAILURE;
}

export function isAbort(err: unknown): boolean {
  return (err instanceof Error && err.name === 'AbortError') || (isWeightsmithError(err) && err.code === ErrorCode.Cancelled);
}

/** One or two lines for stderr: `lora-lego merge: --k: k must be …`, with a hint for usage errors. */
export function formatError(command: string, err: unknown): string {
  const prefix = `lora-lego${command ? ` ${command}` : ''}`;
  if (isAbort(err)) return `${prefix}: interrupted; nothing was written\n`;
  if (isWeightsmithError(err)) {
    const flag = flagForField((err as WeightsmithError).field);
    const head = flag && flag !== command && !err.message.startsWith(flag) ? `${flag}: ` : '';
    const hint = err.code === ErrorCode.InvalidInput && flag?.startsWith('-') ? `\n(run 'lora-lego ${command ? `${command} ` : ''}--help' for usage)` : '';
    return `${prefix}: error: ${head}${err.message}${hint}\n`;
  }
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return `${prefix}: internal error: ${detail}\n`;
}
