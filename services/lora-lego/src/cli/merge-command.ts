/**
 * `lora-lego merge`: opens the adapters, runs `mergeAdapters` (the code path the HTTP service
 * uses), and writes the merged PEFT folder atomically. Every module is merged before a byte is
 * written, so bad input never leaves files behind.
 */
import { mergeAdapters, type MergeAdaptersOptions, type MergeInput } from '../pipeline/merge-adapters.js';
import { writePeftAdapterFolder, type PeftAdapterToWrite } from '../adapter/index.js';
import type { MergeCommand } from './args.js';
import { formatMergeSummary } from './format.js';
import type { CliIO } from './io.js';
import { closeAll, openAdapterArgs } from './open-adapter.js';
import { checkOutputFolder, writeFileAtomically, writeFolderAtomically } from './output-folder.js';
import { createProgress } from './progress.js';

/** Share of the progress bar for merging; the rest is writing (conversion + disk). */
const MERGE_SHARE = 0.9;

export function mergeOptionsOf(cmd: MergeCommand): MergeAdaptersOptions {
  const options: MergeAdaptersOptions = { method: cmd.method, seed: cmd.seed, dtype: cmd.dtype };
  if (cmd.k !== undefined) options.k = cmd.k;
  if (cmd.nInit !== undefined) options.nInit = cmd.nInit;
  if (cmd.maxIter !== undefined) options.maxIter = cmd.maxIter;
  if (cmd.tol !== undefined) options.tol = cmd.tol;
  if (cmd.metric !== undefined) options.metric = cmd.metric;
  if (cmd.paramNorm !== undefined) options.paramNorm = cmd.paramNorm;
  if (cmd.outputScale !== undefined) options.outputScale = cmd.outputScale;
  if (cmd.density !== undefined) options.density = cmd.density;
  if (cmd.lambda !== undefined) options.lambda = cmd.lambda;
  return options;
}

/** Wraps each module's producer to move the bar while the file is written (and to stop on Ctrl-C). */
function withWriteProgress(spec: PeftAdapterToWrite, tick: (done: number, name: string) => void, signal?: AbortSignal): PeftAdapterToWrite {
  let done = 0;
  return {
    ...spec,
    modules: spec.modules.map((m) => ({
      ...m,
      produce: () => {
        signal?.throwIfAborted();
        tick(++done, m.name);
        return m.produce();
      },
    })),
  };
}

export async function runMerge(cmd: MergeCommand, io: CliIO): Promise<void> {
  const started = performance.now();
  for (const flag of cmd.ignoredFlags) io.stderr.write(`lora-lego merge: warning: ${flag} has no effect with --method ${cmd.method}\n`);
  await checkOutputFolder(cmd.out, cmd.force);
  const progress = createProgress(io.stderr, { quiet: cmd.quiet, label: 'lora-lego merge' });
  const adapters = await openAdapterArgs(cmd.adapters.map((a) => a.path));
  try {
    const inputs: MergeInput[] = adapters.map((adapter, i) => ({ adapter, weight: cmd.adapters[i]!.weight, ref: cmd.adapters[i]!.path }));
    const { spec, report } = await mergeAdapters(inputs, mergeOptionsOf(cmd), {
      progress: (fraction, message) => progress.update(fraction * MERGE_SHARE, message),
      ...(io.signal ? { signal: io.signal } : {}),
    });
    const total = spec.modules.length;
    const writing = withWriteProgress(spec, (done, name) => progress.update(MERGE_SHARE + ((1 - MERGE_SHARE) * (done - 1)) / total, `writing ${name}`), io.signal);
    const { weightsBytes } = await writeFolderAtomically(cmd.out, cmd.force, (tmp) => writePeftAdapterFolder(tmp, writing));
    const seconds = (performance.now() - started) / 1000;
    progress.done(`wrote ${cmd.out}`);
    if (cmd.report !== undefined) {
      const full = {
        tool: 'lora-lego merge',
        out: cmd.out,
        seed: cmd.seed,
        weightsBytes,
        wallSeconds: seconds,
        inputWeights: cmd.adapters.map((a) => a.weight),
        ...report,
      };
      await writeFileAtomically(cmd.report, `${JSON.stringify(full, null, 2)}\n`);
    }
    if (!cmd.quiet) {
      io.stdout.write(
        formatMergeSummary({
          report,
          weights: cmd.adapters.map((a) => a.weight),
          out: cmd.out,
          weightsBytes,
          seconds,
          seed: cmd.seed,
          ...(cmd.report === undefined ? {} : { reportPath: cmd.report }),
        }),
      );
    }
  } finally {
    progress.done();
    await closeAll(adapters);
  }
}
