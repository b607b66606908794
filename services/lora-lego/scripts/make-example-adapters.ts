/**
 * Writes two small seeded PEFT adapters (2 LLaMA-style layers, hidden 64, r = 8, α = 16) and
 * their tars, for the README walk-through and for trying the service without a model:
 *   node --import tsx services/lora-lego/scripts/make-example-adapters.ts [outDir]   (default ./examples/adapters)
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { llamaModules, writeSyntheticAdapters } from '../src/synthetic.js';

const out = resolve(process.argv[2] ?? 'examples/adapters');
const dirs = await writeSyntheticAdapters(out, {
  count: 2,
  rank: 8,
  alpha: 16,
  modules: llamaModules(2, 64, 172),
  dtype: 'F32',
  baseModel: 'example/tiny-llama',
  seed: 'weightsmith-example',
});
for (const dir of dirs) {
  execFileSync('tar', ['cf', `${dir}.tar`, '-C', dir, 'adapter_config.json', 'adapter_model.safetensors']);
  console.log(`${dir}/ and ${dir}.tar`);
}
