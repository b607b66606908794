/**
 * A whole merge as the service runs it: open the referenced adapters, merge, store the merged
 * adapter as a content-addressed artifact (the deterministic PEFT tar) whose manifest carries
 * the parameters, the input digests and the report. Runs inside a worker thread.
 */
import { isWeightsmithError, WeightsmithError } from '@weightsmith/core';
import type { Artifact, ArtifactStore } from '@weightsmith/store';
import { createPeftAdapterTar } from '../adapter/index.js';
import type { MergeOptions } from '../merge/index.js';
import { openAdapterRef } from './adapter-refs.js';
import { mergeAdapters, type MergeInput, type MergeReport, type OutputDType } from './merge-adapters.js';

export interface MergeTaskInput {
  adapters: { ref: string; weight: number }[];
  options: MergeOptions & { dtype?: OutputDType };
  producer: { service: string; version: string };
}

export interface MergeTaskResult {
  adapter: Artifact;
  report: MergeReport;
}

export async function runMergeTask(
  task: MergeTaskInput,
  artifacts: ArtifactStore,
  progress: (fraction: number, message: string) => void,
): Promise<MergeTaskResult> {
  const inputs: (MergeInput & { sha256?: string })[] = [];
  try {
    for (const [i, { ref, weight }] of task.adapters.entries()) {
      const field = `adapters.${i}.ref`;
      const opened = await openAdapterRef(ref, artifacts, field).catch((err: unknown) => {
        // Name the input in every error about it: the adapter's own messages name files only.
        if (isWeightsmithError(err) && err.field !== field) {
          throw new WeightsmithError(err.code, `adapters[${i}] (${ref}): ${err.message}`, { field, cause: err });
        }
        throw err;
      });
      inputs.push({ adapter: opened.adapter, weight, ref, ...(opened.sha256 ? { sha256: opened.sha256 } : {}) });
      progress(0.02 * ((i + 1) / task.adapters.length), `opened ${ref}`);
    }
    const { spec, report } = await mergeAdapters(inputs, task.options, {
      progress: (f, message) => progress(0.02 + 0.9 * f, message),
    });
    progress(0.93, 'writing the merged adapter');
    const tar = createPeftAdapterTar(spec);
    const stored = await artifacts.put(tar.stream, {
      kind: 'peft-adapter',
      mediaType: 'application/x-tar',
      producer: task.producer,
      parameters: { ...task.options, weights: task.adapters.map((a) => a.weight) },
      inputs: inputs.map((i) => ({ role: 'adapter', ...(i.sha256 ? { id: i.sha256, sha256: i.sha256 } : { uri: i.ref }) })),
      metadata: { peftConfig: tar.config, report },
    });
    const { created: _created, ...adapter } = stored;
    return { adapter, report };
  } finally {
    await Promise.all(inputs.map((i) => i.adapter.close().catch(() => undefined)));
  }
}
