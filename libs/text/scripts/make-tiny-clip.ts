/**
 * Writes the tiny CLIP text-model fixture folder.
 *
 *   npx tsx libs/text/scripts/make-tiny-clip.ts [outDir] [--seed N] [--hidden N] [--layers N]
 *       [--heads N] [--projection-dim N] [--max-positions N]
 *
 * outDir defaults to libs/text/test/fixtures/tiny-clip (the tests generate their own copy in a
 * temporary folder; this is for looking at the files or loading them elsewhere).
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeTinyClipFolder, type TinyClipOptions } from '../src/tiny-clip/write-tiny-clip-folder.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seed: { type: 'string', default: '0' },
    hidden: { type: 'string' },
    layers: { type: 'string' },
    heads: { type: 'string' },
    'projection-dim': { type: 'string' },
    'max-positions': { type: 'string' },
  },
});
const outDir = positionals[0] ?? fileURLToPath(new URL('../test/fixtures/tiny-clip', import.meta.url));
const options: TinyClipOptions = { seed: Number(values.seed) };
const sizes = [
  ['hidden', values.hidden],
  ['layers', values.layers],
  ['heads', values.heads],
  ['projectionDim', values['projection-dim']],
  ['maxPositions', values['max-positions']],
] as const;
for (const [key, value] of sizes) if (value !== undefined) options[key] = Number(value);
const folder = await writeTinyClipFolder(outDir, options);
const c = folder.weights.config;
console.log(
  `wrote ${folder.files.join(', ')} to ${outDir}\n` +
    `vocab ${c.vocabSize}, hidden ${c.hiddenSize}, layers ${c.numLayers}, heads ${c.numHeads}, ` +
    `projection ${c.projectionDim}, max positions ${c.maxPositions}, seed ${options.seed}`,
);
