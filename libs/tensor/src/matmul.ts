/**
 * Fast dense matrix products on row-major Float32Arrays.
 *
 * Large products run in onnxruntime's MLAS kernels (two orders of magnitude faster than a JS loop
 * here) through one cached in-process session per variant, built with the project's graph builder
 * over symbolic dims, so a single session serves every shape. Small products stay in JS, where a
 * native call costs more than the arithmetic: the path switches at MATMUL_ORT_MIN_FLOPS (2·m·k·n),
 * measured on the 2-core dev machine (JS and MLAS break even near 24×24×24, ~30 µs per call), and
 * only when k ≥ 2 (an outer product is bound by writing C, which both paths do at the same speed).
 *
 * The JS path accumulates each output in float64 and rounds once (at least as accurate as MLAS,
 * which accumulates in float32); results of the two paths therefore agree to float32 rounding,
 * not bit for bit. Neither path scans for NaN/Inf: they propagate as IEEE arithmetic says, and
 * finiteness is checked at the edges that need it.
 *
 * Large outputs are computed in row blocks of at most MATMUL_ORT_BLOCK_ELEMENTS and copied into
 * one result: onnxruntime-node copies every output into a fresh JS array, and fresh memory is
 * what large products pay for here (a 64 MB output cost ~300 ms in page faults against ~10 ms of
 * arithmetic for 4096×16×4096; 4 MB blocks come back from the allocator warm). Callers that
 * repeat a product of the same shape pass `out` to skip the result allocation too.
 *
 * onnxruntime's run() is synchronous underneath the promise: a large product blocks the calling
 * thread's event loop while it runs. Servers call this from a worker thread.
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';
import { GraphBuilder, createSession } from '@weightsmith/onnx';
import { matmulNaive } from './matmul-naive.js';

/** Products with at least this many flops (2·m·k·n) go to onnxruntime; measured crossover. */
export const MATMUL_ORT_MIN_FLOPS = 32_768;
/** Output elements per onnxruntime call (4 MB of float32); larger products run in row blocks. */
export const MATMUL_ORT_BLOCK_ELEMENTS = 1 << 20;

export interface MatmulOptions {
  /** 'auto' (default) picks by size; 'js' and 'ort' force a path (tests, benchmarks). */
  path?: 'auto' | 'js' | 'ort';
  /** Result array (m·n elements, not overlapping a or b), written and returned. */
  out?: Float32Array;
}

export interface MatmulConfig {
  /** MLAS threads of the in-process sessions. Default min(4, available CPUs). */
  intraOpNumThreads?: number;
}

type Variant = 'ab' | 'abT';

let intraOpNumThreads = Math.min(4, availableParallelism());
const sessions = new Map<Variant, Promise<ort.InferenceSession>>();

/**
 * Sets the thread count of the in-process sessions (services pass ORT_INTRA_OP_THREADS).
 * Sessions already created are released and rebuilt on next use.
 */
export async function configureMatmul(config: MatmulConfig): Promise<void> {
  const t = config.intraOpNumThreads;
  if (t === undefined) return;
  if (!Number.isInteger(t) || t < 1 || t > 256) throw invalidInput('intraOpNumThreads', `intraOpNumThreads must be an integer from 1 to 256, got ${t}`);
  if (t === intraOpNumThreads) return;
  intraOpNumThreads = t;
  const old = [...sessions.values()];
  sessions.clear();
  await Promise.all(old.map(async (p) => (await p.catch(() => undefined))?.release()));
}

/** C (m×n) = A (m×k) · B (k×n), all row-major. */
export async function matmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number, opts: MatmulOptions = {}): Promise<Float32Array> {
  checkOperand(a, m, k, 'a');
  checkOperand(b, k, n, 'b');
  const out = checkOut(opts.out, m, n, a, b);
  if (m === 0 || n === 0 || k === 0) return zeros(out, m * n);
  if (!useOrt(m, k, n, opts)) return matmulNaive(a, b, m, k, n, out);
  return runOrt('ab', a, m, k, b, [k, n], n, out);
}

/**
 * C (m×n) = A (m×k) · Bᵀ, with B stored row-major as n×k: C[i][j] is the dot product of row i of
 * A and row j of B (pairwise similarities and distances without transposing B).
 */
export async function matmulTransB(a: Float32Array, b: Float32Array, m: number, k: number, n: number, opts: MatmulOptions = {}): Promise<Float32Array> {
  checkOperand(a, m, k, 'a');
  checkOperand(b, n, k, 'b');
  const out = checkOut(opts.out, m, n, a, b);
  if (m === 0 || n === 0 || k === 0) return zeros(out, m * n);
  if (!useOrt(m, k, n, opts)) return dotRowsJs(a, b, m, k, n, out ?? new Float32Array(m * n));
  return runOrt('abT', a, m, k, b, [n, k], n, out);
}

/** Releases the in-process sessions (tests, shutdown); the next product recreates them. */
export async function releaseMatmulSessions(): Promise<void> {
  const old = [...sessions.values()];
  sessions.clear();
  await Promise.all(old.map(async (p) => (await p.catch(() => undefined))?.release()));
}

function useOrt(m: number, k: number, n: number, opts: MatmulOptions): boolean {
  const path = opts.path ?? 'auto';
  if (path !== 'auto' && path !== 'js' && path !== 'ort') throw invalidInput('path', `path must be 'auto', 'js' or 'ort', got '${String(path)}'`);
  if (path !== 'auto') return path === 'ort';
  return k >= 2 && 2 * m * k * n >= MATMUL_ORT_MIN_FLOPS;
}

function checkOperand(x: Float32Array, rows: number, cols: number, name: string): void {
  for (const [field, v] of [[`${name}.rows`, rows], [`${name}.cols`, cols]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw invalidInput(field, `${field} must be a non-negative integer, got ${v}`);
  }
  if (!(x instanceof Float32Array)) throw invalidInput(name, `${name} must be a Float32Array`);
  if (x.length !== rows * cols) {
    throw new WeightsmithError(ErrorCode.ShapeMismatch, `${name}: a ${rows}×${cols} matrix needs ${rows * cols} elements but the array has ${x.length}`, {
      field: name,
    });
  }
}

function checkOut(out: Float32Array | undefined, m: number, n: number, a: Float32Array, b: Float32Array): Float32Array | undefined {
  if (out === undefined) return undefined;
  if (!(out instanceof Float32Array)) throw invalidInput('out', 'out must be a Float32Array');
  if (out.length !== m * n) {
    throw new WeightsmithError(ErrorCode.ShapeMismatch, `out: a ${m}×${n} result needs ${m * n} elements but the array has ${out.length}`, { field: 'out' });
  }
  if (overlaps(out, a) || overlaps(out, b)) throw invalidInput('out', 'out must not share memory with a or b');
  return out;
}

function overlaps(x: Float32Array, y: Float32Array): boolean {
  return x.buffer === y.buffer && x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength;
}

function zeros(out: Float32Array | undefined, length: number): Float32Array {
  return out === undefined ? new Float32Array(length) : out.fill(0);
}

/** C[i][j] = Σ_p A[i][p]·B[j][p] (float64 sum); both operands are read along contiguous rows. */
function dotRowsJs(a: Float32Array, b: Float32Array, m: number, k: number, n: number, c: Float32Array): Float32Array {
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    for (let j = 0; j < n; j++) {
      const bj = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += a[ai + p]! * b[bj + p]!;
      c[i * n + j] = s;
    }
  }
  return c;
}

/** A (m×k) against B in row blocks of A, each producing at most MATMUL_ORT_BLOCK_ELEMENTS outputs. */
async function runOrt(
  variant: Variant,
  a: Float32Array,
  m: number,
  k: number,
  b: Float32Array,
  bDims: number[],
  n: number,
  out: Float32Array | undefined,
): Promise<Float32Array> {
  const session = await sessionFor(variant);
  const bTensor = new ort.Tensor('float32', b, bDims);
  const rowsPerCall = Math.max(1, Math.floor(MATMUL_ORT_BLOCK_ELEMENTS / n));
  if (rowsPerCall >= m && out === undefined) return runBlock(session, variant, a, m, k, bTensor, n);
  const c = out ?? new Float32Array(m * n);
  for (let r0 = 0; r0 < m; r0 += rowsPerCall) {
    const rows = Math.min(rowsPerCall, m - r0);
    c.set(await runBlock(session, variant, a.subarray(r0 * k, (r0 + rows) * k), rows, k, bTensor, n), r0 * n);
  }
  return c;
}

async function runBlock(session: ort.InferenceSession, variant: Variant, a: Float32Array, rows: number, k: number, b: ort.Tensor, n: number): Promise<Float32Array> {
  const result = await session.run({ a: new ort.Tensor('float32', a, [rows, k]), b });
  const c = result['c'];
  if (c === undefined || !(c.data instanceof Float32Array) || c.data.length !== rows * n) {
    throw new WeightsmithError(ErrorCode.Internal, `matmul session '${variant}' returned no float32 output of ${rows * n} elements`);
  }
  return c.data;
}

function sessionFor(variant: Variant): Promise<ort.InferenceSession> {
  let s = sessions.get(variant);
  if (s === undefined) {
    s = createSession(buildModel(variant), { intraOpNumThreads, interOpNumThreads: 1 }, `matmul-${variant}`);
    s.catch(() => sessions.delete(variant));
    sessions.set(variant, s);
  }
  return s;
}

/** One op over symbolic dims: MatMul for A·B, Gemm(transB) for A·Bᵀ (MLAS reads Bᵀ in place). */
function buildModel(variant: Variant): Uint8Array {
  const g = new GraphBuilder({ name: `matmul_${variant}` });
  const a = g.input('a', 'float32', ['M', 'K']);
  if (variant === 'ab') {
    const b = g.input('b', 'float32', ['K', 'N']);
    g.output('c', 'float32', ['M', 'N'], { from: g.matMul(a, b) });
  } else {
    const b = g.input('b', 'float32', ['N', 'K']);
    g.output('c', 'float32', ['M', 'N'], { from: g.gemm(a, b, undefined, { transB: true }) });
  }
  return g.toModelBytes();
}
