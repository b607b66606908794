/**
 * Safetensors read throughput and memory: the library's tensor-by-tensor read against a raw
 * sequential `fs` read of the same file with the same chunk size.
 *
 *   npx tsx bench/safetensors-read.ts                       # ~1 GB file
 *   SAFETENSORS_BENCH_MB=256 npx tsx bench/safetensors-read.ts
 *
 * Env: SAFETENSORS_BENCH_MB (file size, default 1024), SAFETENSORS_BENCH_REPS (runs per pass,
 * default 3, the median is shown), SAFETENSORS_BENCH_DIR (where the file goes, default the OS
 * temp folder).
 *
 * Each pass runs in a fresh child process so its peak RSS (getrusage maxRSS, process-lifetime)
 * belongs to that pass alone; a child that only loads the modules gives the baseline. The file
 * is written first and read once before timing, so every pass reads from the page cache: the
 * figures compare CPU/copy overhead, not disk speed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSafetensorsFile, writeSafetensors, type TensorToWrite } from '@weightsmith/safetensors';

const MB = 1024 * 1024;
const F32_TENSOR_BYTES = 16 * MB;
const BF16_TENSOR_BYTES = 4 * MB;

interface PassResult {
  bytes: number;
  seconds: number;
  maxRssBytes: number;
  sampledPeakRssBytes: number;
}

/** ~7/8 of the size as 16 MB F32 tensors, the rest as 4 MB BF16 tensors. */
function plan(totalMB: number): TensorToWrite[] {
  const total = totalMB * MB;
  const f32Count = Math.max(1, Math.floor((total * 0.875) / F32_TENSOR_BYTES));
  const bf16Count = Math.max(1, Math.floor((total - f32Count * F32_TENSOR_BYTES) / BF16_TENSOR_BYTES));
  const tensors: TensorToWrite[] = [];
  for (let i = 0; i < f32Count; i++) {
    tensors.push({
      name: `layers.${i}.weight`,
      dtype: 'F32',
      shape: [F32_TENSOR_BYTES / 4 / 1024, 1024],
      producer: () => new Float32Array(F32_TENSOR_BYTES / 4).fill(i * 0.5 - 3),
    });
  }
  for (let i = 0; i < bf16Count; i++) {
    tensors.push({
      name: `embed.${i}`,
      dtype: 'BF16',
      shape: [BF16_TENSOR_BYTES / 2],
      producer: () => new Uint16Array(BF16_TENSOR_BYTES / 2).fill(0x3f80 + i),
    });
  }
  return tensors;
}

/** Samples RSS while `work` runs (maxRSS is the authoritative peak; sampling shows the shape). */
async function sampled<T>(work: () => Promise<T>): Promise<{ value: T; peak: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  try {
    const value = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { value, peak };
  } finally {
    clearInterval(timer);
  }
}

/**
 * Sequential reads of `chunkBytes`. `fresh` allocates a new buffer per read, as any reader that
 * hands out tensors it does not keep must: it separates allocation cost from library overhead.
 */
async function rawPass(path: string, chunkBytes: number, fresh = false): Promise<number> {
  const handle = await open(path, 'r');
  const reused = Buffer.allocUnsafeSlow(chunkBytes);
  let total = 0;
  try {
    for (;;) {
      const buffer = fresh ? Buffer.allocUnsafeSlow(chunkBytes) : reused;
      const { bytesRead } = await handle.read(buffer, 0, chunkBytes, total);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return total;
}

async function libraryPass(path: string, mode: 'read' | 'read-into' | 'stream'): Promise<number> {
  const file = await openSafetensorsFile(path);
  let total = 0;
  const reused = mode === 'read-into' ? new Uint8Array(Math.max(...file.tensors.map((t) => t.byteLength))) : undefined;
  try {
    for (const info of file.tensors) {
      if (reused) {
        const t = await file.read(info.name, { into: reused });
        total += t.data.byteLength;
      } else if (mode === 'read') {
        const t = await file.read(info.name);
        total += t.data.byteLength; // then dropped
      } else {
        for await (const chunk of file.stream(info.name)) total += (chunk as Buffer).byteLength;
      }
    }
  } finally {
    await file.close();
  }
  return total;
}

async function child(mode: string, path: string, chunkBytes: number): Promise<void> {
  const started = process.hrtime.bigint();
  const { value: bytes, peak } = await sampled(async () => {
    if (mode === 'raw') return rawPass(path, chunkBytes);
    if (mode === 'raw-fresh') return rawPass(path, chunkBytes, true);
    if (mode === 'read' || mode === 'read-into' || mode === 'stream') return libraryPass(path, mode);
    return 0; // 'idle': modules loaded, nothing read
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const result: PassResult = { bytes, seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024, sampledPeakRssBytes: peak };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function runChild(mode: string, path: string, chunkBytes: number): PassResult {
  const self = fileURLToPath(import.meta.url);
  const res = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', mode, path, String(chunkBytes)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (res.status !== 0) throw new Error(`child ${mode} failed: ${res.stderr}`);
  const line = res.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as PassResult;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  const totalMB = Number(process.env.SAFETENSORS_BENCH_MB ?? 1024);
  const reps = Number(process.env.SAFETENSORS_BENCH_REPS ?? 3);
  if (!(totalMB >= 8) || !(reps >= 1)) throw new Error('SAFETENSORS_BENCH_MB must be >= 8 and SAFETENSORS_BENCH_REPS >= 1');
  const dir = await mkdtemp(join(process.env.SAFETENSORS_BENCH_DIR ?? tmpdir(), 'ws-st-bench-'));
  const path = join(dir, 'bench.safetensors');
  try {
    const tensors = plan(totalMB);
    const writeStart = process.hrtime.bigint();
    const written = await writeSafetensors(path, tensors, { bench: 'safetensors-read' });
    const writeSeconds = Number(process.hrtime.bigint() - writeStart) / 1e9;
    const f32 = tensors.filter((t) => t.dtype === 'F32').length;
    console.log(
      `file: ${(written.bytes / MB).toFixed(1)} MB, ${tensors.length} tensors (${f32} × 16 MB F32, ${tensors.length - f32} × 4 MB BF16), ` +
        `header ${written.headerLength} B; written in ${writeSeconds.toFixed(2)} s (${(written.bytes / MB / writeSeconds).toFixed(0)} MB/s, fsync included)`,
    );

    await rawPass(path, F32_TENSOR_BYTES); // warm the page cache
    const idle = runChild('idle', path, F32_TENSOR_BYTES);
    const passes = [
      { label: 'raw fs.read, 16 MB reused buffer', mode: 'raw' },
      { label: 'raw fs.read, fresh 16 MB buffer each', mode: 'raw-fresh' },
      { label: 'library read(name) per tensor', mode: 'read' },
      { label: 'library read(name, {into}) reused buffer', mode: 'read-into' },
      { label: 'library stream(name) per tensor', mode: 'stream' },
    ];
    const results = passes.map((p) => {
      const runs: PassResult[] = [];
      for (let r = 0; r < reps; r++) runs.push(runChild(p.mode, path, F32_TENSOR_BYTES));
      for (const run of runs) {
        if (run.bytes !== (p.mode.startsWith('raw') ? written.bytes : written.bytes - 8 - written.headerLength)) {
          throw new Error(`${p.mode} read ${run.bytes} bytes`);
        }
      }
      return {
        ...p,
        bytes: runs[0]!.bytes,
        seconds: median(runs.map((r) => r.seconds)),
        maxRss: Math.max(...runs.map((r) => r.maxRssBytes)),
        sampled: Math.max(...runs.map((r) => r.sampledPeakRssBytes)),
      };
    });

    const raw = results[0]!;
    const rawRate = raw.bytes / MB / raw.seconds;
    console.log(`\nmedian of ${reps} run(s) per pass, each in a fresh process; page cache warm\n`);
    const header = ['pass', 'MB', 'seconds', 'MB/s', 'vs raw', 'peak RSS MB', 'sampled RSS MB'];
    const rows = results.map((r) => {
      const rate = r.bytes / MB / r.seconds;
      return [r.label, (r.bytes / MB).toFixed(1), r.seconds.toFixed(3), rate.toFixed(0), (rate / rawRate).toFixed(2), (r.maxRss / MB).toFixed(1), (r.sampled / MB).toFixed(1)];
    });
    rows.push(['baseline: modules loaded, no reads', '-', '-', '-', '-', (idle.maxRssBytes / MB).toFixed(1), (idle.sampledPeakRssBytes / MB).toFixed(1)]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    console.log(line(header));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of rows) console.log(line(r));
    console.log(`\nlargest tensor: ${F32_TENSOR_BYTES / MB} MB; peak RSS above baseline should stay near one tensor, not the file size`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const childIndex = process.argv.indexOf('--child');
if (childIndex >= 0) {
  const [mode, path, chunk] = process.argv.slice(childIndex + 1);
  await child(mode ?? 'idle', path ?? '', Number(chunk));
} else {
  await main();
}
