import type { ArtifactStore } from '@weightsmith/store';
import { openAdapterRef } from './adapter-refs.js';
import { analyzeAdapters, type Analysis } from './analyze.js';
import type { MergeInput } from './merge-adapters.js';

export interface AnalysisTaskInput {
  adapters: { ref: string; weight: number }[];
  /** Candidate output ranks; default: half the largest input rank, the largest rank, and R. */
  ks?: number[];
}

export async function runAnalysisTask(
  task: AnalysisTaskInput,
  artifacts: ArtifactStore,
  progress: (fraction: number, message: string) => void,
): Promise<Analysis> {
  const inputs: MergeInput[] = [];
  try {
    for (const [i, { ref, weight }] of task.adapters.entries()) {
      inputs.push({ adapter: (await openAdapterRef(ref, artifacts, `adapters.${i}.ref`)).adapter, weight, ref });
    }
    const ranks = inputs.flatMap((i) => i.adapter.modules.map((m) => m.r));
    const rMax = Math.max(...ranks);
    const rSum = inputs.reduce((s, i) => s + Math.max(...i.adapter.modules.map((m) => m.r)), 0);
    const ks = task.ks ?? [...new Set([Math.max(1, Math.floor(rMax / 2)), rMax, rSum])].sort((a, b) => a - b);
    return await analyzeAdapters(inputs, ks, { progress });
  } finally {
    await Promise.all(inputs.map((i) => i.adapter.close().catch(() => undefined)));
  }
}
