/**
 * Seeded synthetic PEFT adapters with LLaMA-style module names and partly shared subspaces
 * (half of each adapter's ranks mix a per-module shared basis, so clustering has structure).
 * Used by the benchmark (LLaMA-2-7B shapes) and the runnable examples (tiny shapes).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Rng } from '@weightsmith/tensor';
import { writePeftAdapterFolder, type FactorDType } from './adapter/index.js';

export interface ModuleShape {
  name: string;
  dIn: number;
  dOut: number;
}

/** q,k,v,o (hidden→hidden), gate,up (hidden→intermediate), down (intermediate→hidden) per layer. */
export function llamaModules(layers: number, hidden = 4096, intermediate = 11008): ModuleShape[] {
  const modules: ModuleShape[] = [];
  for (let l = 0; l < layers; l++) {
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) modules.push({ name: `model.layers.${l}.self_attn.${p}`, dIn: hidden, dOut: hidden });
    for (const p of ['gate_proj', 'up_proj', 'down_proj']) {
      const down = p === 'down_proj';
      modules.push({ name: `model.layers.${l}.mlp.${p}`, dIn: down ? intermediate : hidden, dOut: down ? hidden : intermediate });
    }
  }
  return modules;
}

export interface SyntheticAdapterOptions {
  count: number;
  rank: number;
  alpha: number;
  modules: readonly ModuleShape[];
  dtype: FactorDType;
  baseModel: string;
  /** Seed label: the same label gives the same adapters, byte for byte. */
  seed: string;
  /** Entry standard deviation (default 0.02). */
  std?: number;
}

/** Writes `count` adapter folders `adapter-<i>` under `dir` and returns their paths. */
export async function writeSyntheticAdapters(dir: string, o: SyntheticAdapterOptions): Promise<string[]> {
  const r = o.rank;
  const std = o.std ?? 0.02;
  const dirs: string[] = [];
  for (let i = 0; i < o.count; i++) {
    const folder = join(dir, `adapter-${i}`);
    dirs.push(folder);
    await writePeftAdapterFolder(folder, {
      k: r,
      dtype: o.dtype,
      baseModel: o.baseModel,
      modules: o.modules.map((m) => ({
        name: m.name,
        kind: 'linear' as const,
        dIn: m.dIn,
        dOut: m.dOut,
        produce: () => {
          // The shared basis depends on the module only; each adapter regenerates it (cheaper than holding it).
          const shared = new Rng(`${o.seed}/shared/${m.name}`);
          const sharedA = shared.normalArray(r * m.dIn, 0, std);
          const sharedB = shared.normalArray(m.dOut * r, 0, std);
          const own = new Rng(`${o.seed}/${i}/${m.name}`);
          const A = own.normalArray(r * m.dIn, 0, std);
          const B = own.normalArray(m.dOut * r, 0, std);
          const half = Math.max(1, Math.floor(r / 2));
          const shift = Math.max(1, Math.floor(r / 4));
          for (let j = 0; j < half; j++) {
            const src = (i * shift + j) % r;
            for (let d = 0; d < m.dIn; d++) A[j * m.dIn + d] = sharedA[src * m.dIn + d]! + 0.3 * A[j * m.dIn + d]!;
            for (let out = 0; out < m.dOut; out++) B[out * r + j] = sharedB[out * r + src]! + 0.3 * B[out * r + j]!;
          }
          return { A, B };
        },
      })),
    });
    // The writer's config has lora_alpha = r (scaling 1); trained adapters usually carry their own α.
    const configPath = join(folder, 'adapter_config.json');
    const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    await writeFile(configPath, `${JSON.stringify({ ...config, lora_alpha: o.alpha, task_type: 'CAUSAL_LM' }, null, 2)}\n`);
  }
  return dirs;
}
