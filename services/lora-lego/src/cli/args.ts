/**
 * Command-line parsing for `lora-lego`: turns argv into a typed command, checking the syntax of
 * every value (numbers are numbers, enums are known) so that a typo fails in milliseconds, before
 * any adapter is opened. Range rules that depend on the adapters (k against Σ r_i, the rank cap…)
 * stay with the merge code; their errors are mapped back to flags by `errors.ts`.
 *
 * Errors are `invalid_input` whose `field` is the flag (`--k`, `--weight`…).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { invalidInput } from '@weightsmith/core';
import { MERGE_METHODS, type MergeMethod, type MergeOptions } from '../merge/types.js';

export type DTypeFlag = 'auto' | 'F32' | 'F16' | 'BF16';

export interface AdapterArg {
  /** A PEFT folder or a tar of one. */
  path: string;
  /** User weight w_i; 1 unless a `--weight` follows this `--adapter`. */
  weight: number;
}

/** The merge options a flag sets, as the merge code declares them. */
type MergeFlagOptions = Pick<MergeOptions, 'k' | 'nInit' | 'maxIter' | 'tol' | 'metric' | 'paramNorm' | 'outputScale' | 'density' | 'lambda'>;

export interface MergeCommand extends MergeFlagOptions {
  command: 'merge';
  adapters: AdapterArg[];
  method: MergeMethod;
  seed: number | string;
  dtype: DTypeFlag;
  out: string;
  report?: string;
  force: boolean;
  quiet: boolean;
  /** Flags given that the chosen method ignores (the caller warns about them). */
  ignoredFlags: string[];
}

export interface InspectCommand {
  command: 'inspect';
  adapters: string[];
  json: boolean;
}

export interface HelpCommand {
  command: 'help';
  /** The command whose help was asked for, if any. */
  topic?: 'merge' | 'inspect';
}

export type Command = MergeCommand | InspectCommand | HelpCommand;

const MERGE_OPTIONS = {
  adapter: { type: 'string', multiple: true },
  weight: { type: 'string', multiple: true },
  method: { type: 'string' },
  k: { type: 'string' },
  seed: { type: 'string' },
  dtype: { type: 'string' },
  'n-init': { type: 'string' },
  'max-iter': { type: 'string' },
  tol: { type: 'string' },
  metric: { type: 'string' },
  'param-norm': { type: 'string' },
  'output-scale': { type: 'string' },
  density: { type: 'string' },
  lambda: { type: 'string' },
  out: { type: 'string' },
  report: { type: 'string' },
  force: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const INSPECT_OPTIONS = {
  adapter: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

type ArgToken = NonNullable<ReturnType<typeof parseArgs>['tokens']>[number];

/** Which methods read each method-specific flag. */
const FLAG_METHODS: Record<string, readonly MergeMethod[]> = {
  '--n-init': ['lego'],
  '--max-iter': ['lego'],
  '--tol': ['lego'],
  '--metric': ['lego'],
  '--param-norm': ['lego'],
  '--output-scale': ['lego'],
  '--density': ['ties', 'dare_linear', 'dare_ties', 'magnitude_prune'],
  '--lambda': ['task_arithmetic'],
};

/** A negative number as a flag value (`--weight -0.5`), which node:util would take for a flag. */
const NEGATIVE_NUMBER = /^-(\d|\.\d|Infinity$)/;

/**
 * Joins `--flag -0.5` into `--flag=-0.5` for flags that take a value, so that negative weights,
 * λ and seeds parse; anything else starting with a dash is still treated as a flag.
 */
function joinNegativeValues(args: readonly string[], options: Readonly<Record<string, { type: 'string' | 'boolean' }>>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** node:util's parse errors say "Unknown option '--x'"; keep their text but name the flag as the field. */
function parseWith<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, command: string) {
  try {
    return parseArgs({ args: joinNegativeValues(args, options), options, strict: true, allowPositionals: true, tokens: true });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const flag = /'(-[^'\s,]+)/.exec(message)?.[1] ?? command;
    throw invalidInput(flag.replace(/=.*$/, ''), `${message.replace(/\. To specify a positional argument.*$/s, '')}`);
  }
}

function rejectPositionals(positionals: string[], command: string): void {
  if (positionals.length > 0) {
    throw invalidInput(command, `unexpected argument ${JSON.stringify(positionals[0])} (did you forget a flag name, e.g. --adapter?)`);
  }
}

function finite(flag: string, text: string): number {
  const value = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(value)) throw invalidInput(flag, `${flag} must be a finite number, got ${JSON.stringify(text)}`);
  return value;
}

function positiveInt(flag: string, text: string): number {
  const value = finite(flag, text);
  if (!Number.isSafeInteger(value) || value < 1) throw invalidInput(flag, `${flag} must be an integer ≥ 1, got ${JSON.stringify(text)}`);
  return value;
}

function oneOf<T extends string>(flag: string, text: string, allowed: readonly T[]): T {
  if (!allowed.includes(text as T)) throw invalidInput(flag, `${flag} must be one of ${allowed.join(', ')}, got ${JSON.stringify(text)}`);
  return text as T;
}

/** A non-negative integer seed stays a number (so it matches the HTTP API's numeric seed); anything else is a string seed. */
function seedOf(text: string): number | string {
  if (text === '') throw invalidInput('--seed', '--seed must not be empty');
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (!Number.isSafeInteger(n)) throw invalidInput('--seed', `--seed ${text} is above 2^53 − 1; use a smaller integer or a string seed`);
    return n;
  }
  if (/^-\d+$/.test(text)) throw invalidInput('--seed', `--seed must be a non-negative integer or a word, got ${text}`);
  return text;
}

/**
 * `--weight` applies to the `--adapter` right before it: walk the tokens in order so that
 * `--adapter a --weight 0.7 --adapter b` gives a weight 0.7 and b weight 1.
 */
function pairAdapters(tokens: readonly ArgToken[]): AdapterArg[] {
  const adapters: (AdapterArg & { weighted: boolean })[] = [];
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    if (token.name === 'adapter') {
      if (!token.value) throw invalidInput('--adapter', '--adapter needs a folder or tar path');
      adapters.push({ path: token.value, weight: 1, weighted: false });
    } else if (token.name === 'weight') {
      const last = adapters[adapters.length - 1];
      if (!last) throw invalidInput('--weight', '--weight applies to the --adapter before it, but no --adapter comes before it');
      if (last.weighted) {
        throw invalidInput(
          '--weight',
          `adapter #${adapters.length} (${last.path}) got two --weight values; give each --weight right after its own --adapter (the number of --weight flags must not exceed the --adapter flags they follow)`,
        );
      }
      last.weight = finite('--weight', token.value ?? '');
      last.weighted = true;
    }
  }
  return adapters.map(({ path, weight }) => ({ path, weight }));
}

function parseOutputScale(text: string): 'sqrt_rank_ratio' | 'none' | number {
  if (text === 'sqrt_rank_ratio' || text === 'none') return text;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw invalidInput('--output-scale', `--output-scale must be sqrt_rank_ratio, none or a number > 0, got ${JSON.stringify(text)}`);
  }
  return value;
}

function parseDType(text: string): DTypeFlag {
  const upper = text === 'auto' ? text : text.toUpperCase();
  return oneOf('--dtype', upper, ['auto', 'F32', 'F16', 'BF16'] as const);
}

function parseMerge(args: string[]): MergeCommand | HelpCommand {
  const { values, positionals, tokens } = parseWith(args, MERGE_OPTIONS, 'merge');
  if (values.help) return { command: 'help', topic: 'merge' };
  rejectPositionals(positionals, 'merge');
  const adapters = pairAdapters(tokens);
  if (adapters.length === 0) throw invalidInput('--adapter', 'give at least one --adapter DIR|TAR');
  if (values.out === undefined || values.out === '') throw invalidInput('--out', '--out DIR is required (the folder the merged adapter is written to)');
  const method = oneOf('--method', values.method ?? 'lego', MERGE_METHODS);

  const cmd: MergeCommand = {
    command: 'merge',
    adapters,
    method,
    seed: values.seed === undefined ? 0 : seedOf(values.seed),
    dtype: values.dtype === undefined ? 'auto' : parseDType(values.dtype),
    out: values.out,
    force: values.force ?? false,
    quiet: values.quiet ?? false,
    ignoredFlags: [],
  };
  if (values.report !== undefined) {
    if (values.report === '') throw invalidInput('--report', '--report needs a file path');
    cmd.report = values.report;
  }
  if (values.k !== undefined) cmd.k = positiveInt('--k', values.k);
  if (values['n-init'] !== undefined) cmd.nInit = positiveInt('--n-init', values['n-init']);
  if (values['max-iter'] !== undefined) cmd.maxIter = positiveInt('--max-iter', values['max-iter']);
  if (values.tol !== undefined) {
    cmd.tol = finite('--tol', values.tol);
    if (cmd.tol < 0) throw invalidInput('--tol', `--tol must be ≥ 0, got ${values.tol}`);
  }
  if (values.metric !== undefined) cmd.metric = oneOf('--metric', values.metric, ['euclidean', 'cosine'] as const);
  if (values['param-norm'] !== undefined) cmd.paramNorm = oneOf('--param-norm', values['param-norm'], ['l2', 'linf', 'none'] as const);
  if (values['output-scale'] !== undefined) cmd.outputScale = parseOutputScale(values['output-scale']);
  if (values.density !== undefined) {
    cmd.density = finite('--density', values.density);
    if (!(cmd.density > 0 && cmd.density <= 1)) throw invalidInput('--density', `--density must be in (0, 1], got ${values.density}`);
  }
  if (values.lambda !== undefined) cmd.lambda = finite('--lambda', values.lambda);

  for (const [flag, methods] of Object.entries(FLAG_METHODS)) {
    if (values[flag.slice(2) as keyof typeof values] !== undefined && !methods.includes(method)) cmd.ignoredFlags.push(flag);
  }
  return cmd;
}

function parseInspect(args: string[]): InspectCommand | HelpCommand {
  const { values, positionals } = parseWith(args, INSPECT_OPTIONS, 'inspect');
  if (values.help) return { command: 'help', topic: 'inspect' };
  rejectPositionals(positionals, 'inspect');
  const adapters = values.adapter ?? [];
  if (adapters.length === 0) throw invalidInput('--adapter', 'give at least one --adapter DIR|TAR to inspect');
  if (adapters.some((a) => a === '')) throw invalidInput('--adapter', '--adapter needs a folder or tar path');
  return { command: 'inspect', adapters, json: values.json ?? false };
}

export function parseCommandLine(argv: readonly string[]): Command {
  const [first, ...rest] = argv;
  switch (first) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return { command: 'help', ...(rest[0] === 'merge' || rest[0] === 'inspect' ? { topic: rest[0] } : {}) };
    case 'merge':
      return parseMerge(rest);
    case 'inspect':
      return parseInspect(rest);
    default:
      throw invalidInput('command', `unknown command ${JSON.stringify(first)}; the commands are merge and inspect`);
  }
}
