/**
 * Full-model LoRA-LEGO bench: 4 synthetic BF16 adapters with LLaMA-2-7B shapes (r = 16,
 * lora_alpha = 32; 32 layers × q,k,v,o 4096→4096, gate,up 4096→11008, down 11008→4096 = 224
 * modules, ~80 MB each) merged with each method exactly as the CLI and the service do it:
 * open the 4 PEFT folders, `mergeAdapters`, write the merged PEFT folder.
 *
 * Each method runs in a fresh child process, so "peak RSS" is that process's getrusage maxRSS
 * (node + tsx + onnxruntime + the merge), not the parent's. An "idle" child that only loads the
 * same code gives the floor of that figure.
 *
 *   npx tsx bench/lora-lego.ts                                   # full size, default methods (minutes)
 *   LORA_BENCH_LAYERS=2 npx tsx bench/lora-lego.ts               # quick check
 *   LORA_BENCH_METHODS=cat,svd,lego npx tsx bench/lora-lego.ts
 *   LORA_BENCH_METHODS=ties,dare_linear,dare_ties,magnitude_prune …   # slow: ~6–16 s per 4096×11008 module
 *
 * Env: LORA_BENCH_LAYERS (default 32), LORA_BENCH_METHODS (default cat,svd,task_arithmetic,lego,linear),
 * LORA_BENCH_K (default 16; cat and task_arithmetic use their exact rank Σ r_i = 64),
 * LORA_BENCH_DIR (keep the synthetic adapters there and reuse them on the next run; default: a
 * temp folder, removed at the end).
 *
 * Synthetic structure: per module, a shared basis of r rank-1 directions; each adapter's first
 * r/2 ranks are shared directions (a different subset per adapter) plus 30 % own noise, the
 * rest are its own random directions — so k-means has real clusters to find.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ADAPTERS = 4;
const RANK = 16;
const ALPHA = 32;
const HIDDEN = 4096;
const INTERMEDIATE = 11008;

const TARGETS: Record<string, { seconds: number; rssMiB?: number }> = {
  lego: { seconds: 30, rssMiB: 1024 },
  svd: { seconds: 10 },
  cat: { seconds: 10 },
};

type ModuleShape = { name: string; dIn: number; dOut: number };

async function llamaModules(layers: number): Promise<ModuleShape[]> {
  const { llamaModules: shapes } = await import('../services/lora-lego/src/synthetic.js');
  return shapes(layers, HIDDEN, INTERMEDIATE);
}

// ---------------------------------------------------------------- child: one merge

interface ChildJob {
  method: string;
  k?: number;
  adapters: string[];
  out: string;
}

interface ChildResult {
  method: string;
  k: number;
  openSeconds: number;
  mergeSeconds: number;
  writeSeconds: number;
  seconds: number;
  maxRssMiB: number;
  meanRelativeError: number;
  meanRetainedEnergy: number;
  bytes: number;
  warnings: number;
}

async function runChild(job: ChildJob | 'idle'): Promise<void> {
  const { openPeftAdapterFolder, writePeftAdapterFolder } = await import('../services/lora-lego/src/adapter/index.js');
  const { mergeAdapters } = await import('../services/lora-lego/src/pipeline/merge-adapters.js');
  const { MERGE_METHODS } = await import('../services/lora-lego/src/merge/index.js');
  const maxRssMiB = (): number => process.resourceUsage().maxRSS / 1024;
  if (job === 'idle') {
    process.stdout.write(`${JSON.stringify({ maxRssMiB: maxRssMiB() })}\n`);
    return;
  }
  const method = MERGE_METHODS.find((m) => m === job.method);
  if (!method) throw new Error(`unknown method ${job.method}; the methods are ${MERGE_METHODS.join(', ')}`);
  const t0 = performance.now();
  const adapters = await Promise.all(job.adapters.map((dir) => openPeftAdapterFolder(dir)));
  const t1 = performance.now();
  const { spec, report } = await mergeAdapters(
    adapters.map((adapter, i) => ({ adapter, weight: 1, ref: `adapter-${i}` })),
    { method, seed: 0, ...(job.k === undefined ? {} : { k: job.k }) },
  );
  const t2 = performance.now();
  const { weightsBytes } = await writePeftAdapterFolder(job.out, spec);
  const t3 = performance.now();
  await Promise.all(adapters.map((a) => a.close()));
  const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
  const result: ChildResult = {
    method,
    k: report.k,
    openSeconds: (t1 - t0) / 1000,
    mergeSeconds: (t2 - t1) / 1000,
    writeSeconds: (t3 - t2) / 1000,
    seconds: (t3 - t0) / 1000,
    maxRssMiB: maxRssMiB(),
    meanRelativeError: mean(report.inputs.map((i) => i.meanRelativeError)),
    meanRetainedEnergy: mean(report.inputs.map((i) => i.meanRetainedEnergy)),
    bytes: weightsBytes,
    warnings: report.warnings.length,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------- parent: synthesis + table

async function synthesize(dir: string, modules: readonly ModuleShape[]): Promise<string[]> {
  const { writeSyntheticAdapters } = await import('../services/lora-lego/src/synthetic.js');
  const dirs = Array.from({ length: ADAPTERS }, (_, i) => join(dir, `adapter-${i}`));
  if (dirs.every((d) => existsSync(join(d, 'adapter_config.json')))) return dirs;
  return writeSyntheticAdapters(dir, { count: ADAPTERS, rank: RANK, alpha: ALPHA, modules, dtype: 'BF16', baseModel: 'meta-llama/Llama-2-7b-hf', seed: 'lora-bench' });
}

function spawnChild(arg: ChildJob | 'idle'): Promise<{ result: unknown; wallSeconds: number }> {
  const self = fileURLToPath(import.meta.url);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', self, '--child', JSON.stringify(arg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`child for ${JSON.stringify(arg)} exited with ${code}`));
      const line = stdout.trim().split('\n').pop() ?? '';
      resolve({ result: JSON.parse(line) as unknown, wallSeconds: (performance.now() - started) / 1000 });
    });
  });
}

function verdict(method: string, r: ChildResult): string {
  const t = TARGETS[method];
  if (!t) return '';
  const parts = [`${r.seconds <= t.seconds ? 'pass' : 'MISS'} ≤ ${t.seconds} s`];
  if (t.rssMiB !== undefined) parts.push(`${r.maxRssMiB <= t.rssMiB ? 'pass' : 'MISS'} ≤ ${t.rssMiB} MiB`);
  return parts.join(', ');
}

async function runParent(): Promise<void> {
  const layers = Number(process.env['LORA_BENCH_LAYERS'] ?? 32);
  if (!Number.isInteger(layers) || layers < 1 || layers > 32) throw new Error(`LORA_BENCH_LAYERS must be an integer from 1 to 32, got ${process.env['LORA_BENCH_LAYERS']}`);
  const methods = (process.env['LORA_BENCH_METHODS'] ?? 'cat,svd,task_arithmetic,lego,linear').split(',').map((m) => m.trim()).filter(Boolean);
  const k = Number(process.env['LORA_BENCH_K'] ?? RANK);
  const keep = process.env['LORA_BENCH_DIR'];
  const dir = keep ?? (await mkdtemp(join(tmpdir(), 'lora-lego-bench-')));
  await mkdir(dir, { recursive: true });
  const modules = await llamaModules(layers);
  const params = modules.reduce((s, m) => s + RANK * (m.dIn + m.dOut), 0);

  try {
    const t0 = performance.now();
    const adapters = await synthesize(dir, modules);
    console.log(
      `synthetic adapters: ${ADAPTERS} × ${modules.length} modules (${layers} layers, LLaMA-2-7B shapes), r = ${RANK}, lora_alpha = ${ALPHA}, BF16, ` +
        `${((params * 2) / 1e6).toFixed(0)} MB each; ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (${dir})`,
    );
    if (methods.some((m) => ['ties', 'dare_linear', 'dare_ties', 'magnitude_prune'].includes(m))) {
      console.log('note: ties / dare_* / magnitude_prune form each dense ΔW: ~6–16 s per 4096×11008 module, i.e. tens of minutes at 32 layers');
    }
    const idle = (await spawnChild('idle')).result as { maxRssMiB: number };
    console.log(`idle child (node + tsx + merge code loaded, nothing merged): peak RSS ${idle.maxRssMiB.toFixed(0)} MiB`);
    console.log('');

    const rows: (ChildResult & { processSeconds: number })[] = [];
    for (const method of methods) {
      const out = join(dir, `merged-${method}`);
      await rm(out, { recursive: true, force: true });
      const job: ChildJob = { method, adapters, out, ...(method === 'cat' || method === 'task_arithmetic' ? {} : { k }) };
      const { result, wallSeconds } = await spawnChild(job);
      await rm(out, { recursive: true, force: true });
      rows.push({ ...(result as ChildResult), processSeconds: wallSeconds });
      process.stderr.write(`  ${method} done\n`);
    }

    const base = rows.find((x) => x.method === 'cat') ?? rows[0];
    const header = ['method', 'k', 'wall s', 'open s', 'merge s', 'write s', 'process s', '×cat', 'peak RSS MiB', 'mean rel. err', 'mean retained', 'target'];
    const cells = rows.map((x) => [
      x.method,
      String(x.k),
      x.seconds.toFixed(2),
      x.openSeconds.toFixed(2),
      x.mergeSeconds.toFixed(2),
      x.writeSeconds.toFixed(2),
      x.processSeconds.toFixed(2),
      base ? (x.seconds / base.seconds).toFixed(2) : '',
      x.maxRssMiB.toFixed(0),
      x.meanRelativeError.toFixed(4),
      x.meanRetainedEnergy.toFixed(4),
      verdict(x.method, x),
    ]);
    const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c]!.length)));
    const fmt = (row: string[]): string => row.map((cell, c) => (c === 0 || c === row.length - 1 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd();
    console.log(fmt(header));
    for (const row of cells) console.log(fmt(row));
    console.log('');
    console.log('wall s = open + merge + write inside the child (the figure the targets refer to); process s adds node/tsx start-up.');
    console.log(`mean rel. err = ‖ΔW′ − ΔW_i‖_F / ‖ΔW_i‖_F averaged over modules and inputs; retained = ‖P ΔW_i‖_F / ‖ΔW_i‖_F.`);
    console.log(`targets apply at full size (32 layers): LEGO k = 16 ≤ 30 s and ≤ 1 GiB peak RSS; svd, cat ≤ 10 s.${layers < 32 ? ` (this run: ${layers} layers)` : ''}`);
  } finally {
    if (keep === undefined) await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  const arg = process.argv[3] ?? '';
  await runChild(arg === '"idle"' || arg === 'idle' ? 'idle' : (JSON.parse(arg) as ChildJob));
  // onnxruntime's thread pool must not keep the child alive.
  process.stdout.write('', () => process.exit(0));
} else {
  await runParent();
}
