import { createHash } from 'node:crypto';
import { invalidInput } from '@weightsmith/core';

/**
 * The project's one seeded random number generator: same seed, same numbers, on every machine.
 *
 * Generator: xoshiro128** 1.0 (Blackman & Vigna, https://prng.di.unimi.it/xoshiro128starstar.c),
 * 128 bits of state, 32-bit outputs, built only from 32-bit integer operations (Math.imul,
 * shifts, xor), which JS defines exactly. Floating-point results are derived from those integers
 * with exactly rounded operations, except `normal()`, which also uses Math.log/sqrt/cos/sin (see
 * there).
 *
 * Seeding: a seed becomes a 64-bit key — a number or bigint is used as is (a non-negative
 * integer below 2^64), a string is hashed (the first 8 bytes of SHA-256 of its UTF-8, read
 * little-endian) — and the state words are the low and high halves of the first two outputs of
 * SplitMix64 started from the key, the seeding Vigna recommends. Note the number 5 and the
 * string "5" are different seeds.
 */
export type Seed = number | bigint | string;

const MASK64 = (1n << 64n) - 1n;
const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/** One SplitMix64 step (Steele, Lea & Flood 2014) on a BigInt state: [next state, output]. */
export function splitMix64(state: bigint): [bigint, bigint] {
  const next = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [next, z ^ (z >> 31n)];
}

function sha256Key(parts: Uint8Array[]): bigint {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest().readBigUInt64LE(0);
}

/** The 64-bit key of a seed (see the class comment). */
export function seedKey(seed: Seed): bigint {
  if (typeof seed === 'string') return sha256Key([Buffer.from(seed, 'utf8')]);
  if (typeof seed === 'number') {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw invalidInput('seed', `seed must be a non-negative integer up to 2^53-1 (or a bigint or a string), got ${seed}`);
    }
    return BigInt(seed);
  }
  if (typeof seed === 'bigint') {
    if (seed < 0n || seed > MASK64) throw invalidInput('seed', `a bigint seed must be in 0..2^64-1, got ${seed}`);
    return seed;
  }
  throw invalidInput('seed', `seed must be a number, bigint or string, got ${typeof seed}`);
}

function checkCount(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw invalidInput(field, `${field} must be a non-negative integer, got ${value}`);
}

function checkFinite(value: number, field: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidInput(field, `${field} must be a finite number, got ${value}`);
}

/** The largest F32 value strictly below x. */
function f32Below(x: number): number {
  const f = new Float32Array([x]);
  if (f[0]! < x) return f[0]!;
  const u = new Uint32Array(f.buffer);
  const v = f[0]!;
  if (v === 0) u[0] = 0x80000001; // below ±0 is the smallest negative subnormal
  else if (v > 0) u[0] = u[0]! - 1;
  else u[0] = u[0]! + 1;
  return f[0]!;
}

interface MutableIndexed<T> {
  length: number;
  [index: number]: T;
}

export class Rng {
  /** The 64-bit key this generator was seeded from; `fork` derives child keys from it. */
  readonly key: bigint;
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  /** Second value of the last Box–Muller pair, handed out by the next `normal()`. */
  private spareNormal: number | undefined;

  constructor(seed: Seed) {
    this.key = seedKey(seed);
    const [state1, z1] = splitMix64(this.key);
    const [, z2] = splitMix64(state1);
    this.s0 = Number(z1 & 0xffffffffn);
    this.s1 = Number(z1 >> 32n);
    this.s2 = Number(z2 & 0xffffffffn);
    this.s3 = Number(z2 >> 32n);
  }

  /** Next 32 random bits as an unsigned integer in [0, 2^32). */
  nextUint32(): number {
    const s0 = this.s0;
    const s1 = this.s1;
    const s2 = this.s2;
    const s3 = this.s3;
    const x = Math.imul(s1, 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = s1 << 9;
    const n2 = s2 ^ s0;
    const n3 = s3 ^ s1;
    this.s1 = s1 ^ n2;
    this.s0 = s0 ^ n3;
    this.s2 = n2 ^ t;
    this.s3 = (n3 << 11) | (n3 >>> 21);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits: (27 bits of one draw · 2^26 + 26 bits of the next) / 2^53. */
  uniform(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / TWO_POW_53;
  }

  /**
   * n F32 values uniform in [lo, hi): each is lo + (hi − lo) · u with u = (24 bits of one draw) /
   * 2^24, rounded to F32 and kept below hi (rounding could otherwise reach hi).
   */
  uniformF32Array(n: number, lo = 0, hi = 1): Float32Array {
    checkCount(n, 'n');
    checkFinite(lo, 'lo');
    checkFinite(hi, 'hi');
    if (!(lo < hi)) throw invalidInput('hi', `hi must be greater than lo, got lo=${lo} hi=${hi}`);
    const out = new Float32Array(n);
    const width = hi - lo;
    const top = f32Below(hi);
    for (let i = 0; i < n; i++) {
      const v = Math.fround(lo + width * ((this.nextUint32() >>> 8) / 16777216));
      out[i] = v < hi ? v : top;
    }
    return out;
  }

  /**
   * Standard normal by Box–Muller: from u1 = 1 − uniform() ∈ (0, 1] and u2 = uniform(),
   * r = √(−2 ln u1) gives r·cos(2πu2) now and r·sin(2πu2) on the next call (cached, so each
   * pair costs two uniforms). Math.log/cos/sin are not required to be exactly rounded by the
   * JS spec; V8 (all Node versions this project supports) implements them with the same fdlibm
   * port on every platform, so streams match across machines running Node.
   */
  normal(): number {
    const spare = this.spareNormal;
    if (spare !== undefined) {
      this.spareNormal = undefined;
      return spare;
    }
    const u1 = 1 - this.uniform();
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spareNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** n normals as F32: element i is mean + std · (the i-th `normal()` call), rounded to F32. */
  normalArray(n: number, mean = 0, std = 1): Float32Array {
    checkCount(n, 'n');
    checkFinite(mean, 'mean');
    checkFinite(std, 'std');
    if (std < 0) throw invalidInput('std', `std must be non-negative, got ${std}`);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = mean + std * this.normal();
    return out;
  }

  /**
   * Uniform integer in [0, maxExclusive), without modulo bias: draws below the largest multiple
   * of maxExclusive are kept, the rest rejected. Up to 2^32 uses one 32-bit draw per try; above
   * (up to 2^53) a 53-bit draw from two.
   */
  int(maxExclusive: number): number {
    if (!Number.isSafeInteger(maxExclusive) && maxExclusive !== TWO_POW_53) {
      throw invalidInput('maxExclusive', `maxExclusive must be an integer in 1..2^53, got ${maxExclusive}`);
    }
    if (maxExclusive < 1) throw invalidInput('maxExclusive', `maxExclusive must be at least 1, got ${maxExclusive}`);
    if (maxExclusive <= TWO_POW_32) {
      const limit = TWO_POW_32 - (TWO_POW_32 % maxExclusive);
      for (;;) {
        const r = this.nextUint32();
        if (r < limit) return r % maxExclusive;
      }
    }
    const limit = TWO_POW_53 - (TWO_POW_53 % maxExclusive);
    for (;;) {
      const r = (this.nextUint32() >>> 11) * TWO_POW_32 + this.nextUint32();
      if (r < limit) return r % maxExclusive;
    }
  }

  /** Shuffles in place (Fisher–Yates, from the last index down: swap i with int(i + 1)); returns `arr`. */
  shuffle<A extends MutableIndexed<unknown>>(arr: A): A {
    const a = arr as MutableIndexed<unknown>;
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = a[i];
      a[i] = a[j];
      a[j] = tmp;
    }
    return arr;
  }

  /** One element of a non-empty array, uniformly. */
  choice<T>(items: readonly T[]): T {
    if (items.length === 0) throw invalidInput('items', 'cannot choose from an empty array');
    return items[this.int(items.length)] as T;
  }

  /**
   * k distinct indices from [0, n), in random order: the first k steps of a forward
   * Fisher–Yates shuffle of 0..n−1 (step i swaps i with i + int(n − i)). When k is small next to
   * n the permutation is kept sparse in a Map, so memory is O(k) and the result is the same.
   */
  sampleWithoutReplacement(n: number, k: number): number[] {
    checkCount(n, 'n');
    checkCount(k, 'k');
    if (k > n) throw invalidInput('k', `cannot sample ${k} distinct indices from ${n}`);
    const out = new Array<number>(k);
    if (n <= 4 * k || n <= 1024) {
      const perm = new Float64Array(n);
      for (let i = 0; i < n; i++) perm[i] = i;
      for (let i = 0; i < k; i++) {
        const j = i + this.int(n - i);
        const pj = perm[j]!;
        perm[j] = perm[i]!;
        perm[i] = pj;
        out[i] = pj;
      }
      return out;
    }
    const moved = new Map<number, number>();
    for (let i = 0; i < k; i++) {
      const j = i + this.int(n - i);
      const pj = moved.get(j) ?? j;
      moved.set(j, moved.get(i) ?? i);
      out[i] = pj;
    }
    return out;
  }

  /** n bytes, each 1 with probability p (exactly: ⌈p·2^32⌉ / 2^32) and 0 otherwise; one draw each. */
  bernoulliMask(n: number, p: number): Uint8Array {
    checkCount(n, 'n');
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw invalidInput('p', `p must be a probability in [0, 1], got ${p}`);
    const threshold = p * TWO_POW_32;
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.nextUint32() < threshold ? 1 : 0;
    return out;
  }

  /**
   * A child generator named by `label`, derived from this generator's key only (not from its
   * current position): `new Rng(s).fork('req-3')` always gives the same stream, however much
   * the parent has drawn, and different labels give independent streams. The child key is the
   * first 8 bytes (LE) of SHA-256(parent key as 8 LE bytes ‖ UTF-8 label). Numbers are labels
   * through String(), so fork(3) and fork('3') are the same child.
   */
  fork(label: string | number): Rng {
    if (typeof label !== 'string' && !(typeof label === 'number' && Number.isFinite(label))) {
      throw invalidInput('label', `fork label must be a string or a finite number, got ${String(label)}`);
    }
    const keyBytes = Buffer.alloc(8);
    keyBytes.writeBigUInt64LE(this.key);
    return new Rng(sha256Key([keyBytes, Buffer.from(String(label), 'utf8')]));
  }

  /**
   * A child generator seeded from the next two draws of this one (which advances): use it to
   * hand out streams in order when no natural label exists.
   */
  split(): Rng {
    const lo = BigInt(this.nextUint32());
    const hi = BigInt(this.nextUint32());
    return new Rng((hi << 32n) | lo);
  }
}
