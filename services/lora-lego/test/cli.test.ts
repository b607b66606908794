/*
 * The `lora-lego` CLI, run as a real subprocess on small adapters written here: merges open as
 * PEFT adapters with the right rank, `cat` gives Σ w_i s_i B_i A_i (computed below in F64, not by
 * the merge code), the same seed gives the same bytes, and bad flags exit 2 naming the flag with
 * nothing written. Plus in-process checks of flag pairing and of the progress display.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createAdapterTarFromFiles, openPeftAdapterFolder } from '../src/adapter/index.js';
import { parseCommandLine, type MergeCommand } from '../src/cli/args.js';
import { createProgress } from '../src/cli/progress.js';
import { f32, key, weights } from './adapter-fixtures.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const Q = 'model.layers.0.self_attn.q_proj';
const V = 'model.layers.0.self_attn.v_proj';
const D_IN = 6;
const D_OUT = 5;

interface Factors {
  r: number;
  alpha: number;
  A: Record<string, number[]>;
  B: Record<string, number[]>;
}

/** Deterministic, non-symmetric values (a small LCG), so that a wrong transpose shows. */
function values(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.round(((s / 2147483648) * 2 - 1) * 1000) / 1000;
  });
}

function factors(r: number, alpha: number, seed: number): Factors {
  return {
    r,
    alpha,
    A: { [Q]: values(r * D_IN, seed), [V]: values(r * D_IN, seed + 1) },
    B: { [Q]: values(D_OUT * r, seed + 2), [V]: values(D_OUT * r, seed + 3) },
  };
}

async function writeAdapter(dir: string, f: Factors): Promise<void> {
  await mkdir(dir, { recursive: true });
  const config = {
    peft_type: 'LORA',
    r: f.r,
    lora_alpha: f.alpha,
    target_modules: ['q_proj', 'v_proj'],
    base_model_name_or_path: 'tiny/base',
    task_type: 'CAUSAL_LM',
  };
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify(config));
  const tensors = [Q, V].flatMap((m) => [
    { name: key(m, 'A'), dtype: 'F32' as const, shape: [f.r, D_IN], bytes: f32(f.A[m]!) },
    { name: key(m, 'B'), dtype: 'F32' as const, shape: [D_OUT, f.r], bytes: f32(f.B[m]!) },
  ]);
  await writeFile(join(dir, 'adapter_model.safetensors'), await weights(tensors));
}

/** c · B · A in F64, dOut × dIn row-major, by plain loops. */
function delta(B: ArrayLike<number>, A: ArrayLike<number>, r: number, c: number): number[] {
  const out = new Array<number>(D_OUT * D_IN).fill(0);
  for (let o = 0; o < D_OUT; o++)
    for (let j = 0; j < r; j++) for (let d = 0; d < D_IN; d++) out[o * D_IN + d]! += c * B[o * r + j]! * A[j * D_IN + d]!;
  return out;
}

let work: string;
let adapterA: string;
let adapterB: string;
/** adapterB as a tar, the layout `GET /v1/adapters/{id}` downloads. */
let adapterBTar: string;
const FA = factors(2, 4, 11); // scale 4/2 = 2
const FB = factors(3, 3, 29); // scale 1

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lora-lego-cli-'));
  adapterA = join(work, 'adapter-a');
  adapterB = join(work, 'adapter-b');
  await writeAdapter(adapterA, FA);
  await writeAdapter(adapterB, FB);
  adapterBTar = join(work, 'adapter-b.tar');
  const weightsBytes = await readFile(join(adapterB, 'adapter_model.safetensors'));
  const tar = createAdapterTarFromFiles(await readFile(join(adapterB, 'adapter_config.json')), {
    size: weightsBytes.byteLength,
    open: async function* () {
      yield weightsBytes;
    },
  });
  await pipeline(tar.stream, createWriteStream(adapterBTar));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Files in `work` whose names mark an unfinished atomic write. */
async function leftovers(): Promise<string[]> {
  return (await readdir(work)).filter((n) => n.includes('.tmp-') || n.includes('.old-'));
}

describe('lora-lego merge (subprocess)', () => {
  test('cat: output opens as PEFT with r = Σ r_i, and ΔW = Σ w_i s_i B_i A_i', async () => {
    const out = join(work, 'cat-out');
    const report = join(work, 'cat-report.json');
    const run = await cli(['merge', '--adapter', adapterA, '--weight', '0.5', '--adapter', adapterB, '--weight', '-2', '--method', 'cat', '--out', out, '--report', report]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /merged 2 adapters with cat, k = 5/);
    assert.match(run.stdout, /mean rel\. error/);
    assert.match(run.stdout, /mean retained energy/);

    const merged = await openPeftAdapterFolder(out);
    try {
      assert.equal(merged.config.r, 5);
      assert.equal(merged.config.lora_alpha, 5);
      assert.deepEqual(
        merged.modules.map((m) => [m.name, m.r, m.scale, m.dIn, m.dOut, m.dtype]),
        [
          [Q, 5, 1, D_IN, D_OUT, 'F32'],
          [V, 5, 1, D_IN, D_OUT, 'F32'],
        ],
      );
      for (const m of [Q, V]) {
        const { A, B } = await merged.readModule(m);
        const got = delta(B, A, 5, 1);
        const a = delta(FA.B[m]!, FA.A[m]!, 2, 0.5 * 2);
        const b = delta(FB.B[m]!, FB.A[m]!, 3, -2 * 1);
        got.forEach((v, i) => assert.ok(Math.abs(v - (a[i]! + b[i]!)) < 1e-5, `${m}[${i}]: ${v} vs ${a[i]! + b[i]!}`));
      }
    } finally {
      await merged.close();
    }

    const doc = JSON.parse(await readFile(report, 'utf8')) as { method: string; k: number; modules: unknown[]; inputs: { ref: string; meanRelativeError: number }[] };
    assert.equal(doc.method, 'cat');
    assert.equal(doc.k, 5);
    assert.equal(doc.modules.length, 2);
    assert.deepEqual(doc.inputs.map((i) => i.ref), [adapterA, adapterB]);
    assert.deepEqual(await leftovers(), []);
  });

  test('lego: r = k in the output, same seed → identical safetensors bytes', async () => {
    const outs = [join(work, 'lego-1'), join(work, 'lego-2')];
    const runs = await Promise.all(
      outs.map((out) => cli(['merge', '--adapter', adapterA, '--adapter', adapterB, '--method', 'lego', '--k', '2', '--seed', '7', '--out', out, '--quiet'])),
    );
    for (const run of runs) {
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, '', '--quiet prints no summary');
    }
    const merged = await openPeftAdapterFolder(outs[0]!);
    try {
      assert.equal(merged.config.r, 2);
      assert.deepEqual(merged.modules.map((m) => m.r), [2, 2]);
    } finally {
      await merged.close();
    }
    const [one, two] = await Promise.all(outs.map((o) => readFile(join(o, 'adapter_model.safetensors'))));
    assert.ok(one!.equals(two!), 'same seed, same bytes');
  });

  test('bad flags exit 2, name the flag, and write nothing', async () => {
    const out = join(work, 'never');
    const base = ['merge', '--adapter', adapterA, '--adapter', adapterB];
    const cases: [string, string[], RegExp][] = [
      ['unknown method', [...base, '--method', 'frankenmerge', '--out', out], /--method/],
      ['k = 0', [...base, '--k', '0', '--out', out], /--k/],
      ['missing --out', [...base, '--k', '2'], /--out/],
      ['nonexistent adapter', ['merge', '--adapter', adapterA, '--adapter', join(work, 'no-such-adapter'), '--out', out], /--adapter #2.*no-such-adapter.*does not exist/],
      ['two weights after one adapter', [...base, '--weight', '1', '--weight', '2', '--out', out], /--weight/],
      ['weight before any adapter', ['merge', '--weight', '1', '--adapter', adapterA, '--out', out], /--weight/],
      ['weight not a number', [...base, '--weight', 'heavy', '--out', out], /--weight/],
      ['unknown flag', [...base, '--frobnicate', '--out', out], /--frobnicate/],
      // Caught by the merge code after the adapters are open, mapped back to the flag.
      ['cat with k < Σ r_i', [...base, '--method', 'cat', '--k', '3', '--out', out], /--k.*Σ r_i = 5/],
      ['folder that is not an adapter', ['merge', '--adapter', adapterA, '--adapter', work, '--out', out], /--adapter #2.*adapter_config\.json/],
    ];
    const runs = await Promise.all(cases.map(([, args]) => cli(args)));
    runs.forEach((run, i) => {
      const [name, , message] = cases[i]!;
      assert.equal(run.code, 2, `${name}: exit ${run.code}, stderr ${run.stderr}`);
      assert.match(run.stderr, message, name);
      assert.match(run.stderr, /^lora-lego merge: error: /m, name);
      assert.equal(run.stdout, '', name);
    });
    await assert.rejects(readdir(out), { code: 'ENOENT' });
    assert.deepEqual(await leftovers(), []);
  });

  test('a non-empty --out is refused without --force and replaced with it', async () => {
    const out = join(work, 'occupied');
    await mkdir(out);
    await writeFile(join(out, 'keep.txt'), 'mine');
    const args = ['merge', '--adapter', adapterA, '--adapter', adapterB, '--method', 'svd', '--k', '3', '--out', out, '--quiet'];
    const refused = await cli(args);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /not empty.*--force/);
    assert.deepEqual(await readdir(out), ['keep.txt']);

    const forced = await cli([...args, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual((await readdir(out)).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
    assert.deepEqual(await leftovers(), []);
  });

  test('an existing empty --out is filled; a tar works as --adapter', async () => {
    const out = join(work, 'empty-out');
    await mkdir(out);
    const run = await cli(['merge', '--adapter', adapterA, '--adapter', adapterBTar, '--method', 'lego', '--k', '1', '--dtype', 'bf16', '--out', out, '--quiet']);
    assert.equal(run.code, 0, run.stderr);
    const merged = await openPeftAdapterFolder(out);
    try {
      assert.deepEqual(merged.modules.map((m) => [m.r, m.dtype]), [
        [1, 'BF16'],
        [1, 'BF16'],
      ]);
    } finally {
      await merged.close();
    }
  });
});

describe('lora-lego inspect and help (subprocess)', () => {
  test('inspect lists modules, ranks, scales and dtype', async () => {
    const [table, json, help, fromTar] = await Promise.all([
      cli(['inspect', '--adapter', adapterA]),
      cli(['inspect', '--adapter', adapterB, '--json']),
      cli(['--help']),
      cli(['inspect', '--adapter', adapterBTar, '--json']),
    ]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /r \/ lora_alpha: 2 \/ 4/);
    assert.match(table.stdout, new RegExp(`${Q.replace(/\./g, '\\.')}\\s+linear\\s+2\\s+4\\s+2\\s+6→5\\s+F32`));
    assert.equal(json.code, 0, json.stderr);
    const doc = JSON.parse(json.stdout) as { modules: { name: string; r: number; scale: number; dtype: string }[] };
    assert.deepEqual(
      doc.modules.map((m) => [m.name, m.r, m.scale, m.dtype]),
      [
        [Q, 3, 1, 'F32'],
        [V, 3, 1, 'F32'],
      ],
    );
    assert.equal(fromTar.code, 0, fromTar.stderr);
    assert.deepEqual((JSON.parse(fromTar.stdout) as { modules: unknown }).modules, doc.modules, 'the tar holds the same adapter');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /lora-lego merge --adapter/);
  });
});

describe('flag parsing (in process)', () => {
  test('each --weight applies to the --adapter right before it', () => {
    const cmd = parseCommandLine(['merge', '--adapter', 'a', '--weight', '0.7', '--adapter', 'b', '--adapter', 'c', '--weight', '-1', '--out', 'o']) as MergeCommand;
    assert.deepEqual(cmd.adapters, [
      { path: 'a', weight: 0.7 },
      { path: 'b', weight: 1 },
      { path: 'c', weight: -1 },
    ]);
    assert.equal(cmd.method, 'lego');
    assert.equal(cmd.seed, 0);
  });

  test('numeric seeds stay numbers, other seeds are strings; method-specific flags are flagged when ignored', () => {
    const cmd = parseCommandLine(['merge', '--adapter', 'a', '--out', 'o', '--seed', '42', '--method', 'svd', '--density', '0.3', '--output-scale', '1.5']) as MergeCommand;
    assert.equal(cmd.seed, 42);
    assert.equal(cmd.outputScale, 1.5);
    assert.deepEqual(cmd.ignoredFlags.sort(), ['--density', '--output-scale']);
    const named = parseCommandLine(['merge', '--adapter', 'a', '--out', 'o', '--seed', 'run-3']) as MergeCommand;
    assert.equal(named.seed, 'run-3');
  });
});

describe('progress display', () => {
  const sink = (isTTY: boolean) => {
    const writes: string[] = [];
    return { writes, sink: { isTTY, columns: 60, write: (t: string) => writes.push(t) } };
  };

  test('not a terminal: a plain line per 10 % step, not per module', () => {
    const { writes, sink: s } = sink(false);
    let t = 0;
    const p = createProgress(s, { now: () => t });
    for (let i = 1; i <= 224; i++) {
      t += 10;
      p.update(i / 224, `merged module ${i}`);
    }
    p.done('wrote out');
    assert.equal(writes.length, 11, writes.join(''));
    assert.ok(writes.every((w) => w.endsWith('\n') && !w.includes('\r')));
    assert.match(writes[0]!, /10% .*merged module 23/);
  });

  test('a terminal: one line redrawn with \\r, kept within the width, ended by one newline', () => {
    const { writes, sink: s } = sink(true);
    let t = 0;
    const p = createProgress(s, { now: () => t });
    for (let i = 1; i <= 50; i++) {
      t += 1000;
      p.update(i / 50, `merged model.layers.${i}.self_attn.q_proj and a long tail of text`);
    }
    p.done('wrote out');
    p.done();
    const draws = writes.filter((w) => w.startsWith('\r'));
    assert.equal(draws.length, 51);
    assert.ok(draws.every((w) => w.replace('\r\x1b[2K', '').length <= 59));
    assert.deepEqual(writes.filter((w) => w === '\n'), ['\n']);
    assert.equal(writes[writes.length - 1], '\n');
  });

  test('quiet: nothing', () => {
    const { writes, sink: s } = sink(true);
    const p = createProgress(s, { quiet: true });
    p.update(0.5, 'x');
    p.done('y');
    assert.deepEqual(writes, []);
  });
});
