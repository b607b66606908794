import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import { Rng, seedKey, splitMix64 } from '../src/rng.js';

const hasCode = (code: string, field?: string) => (err: unknown) =>
  isWeightsmithError(err) && err.code === code && (field === undefined || err.field === field);

/*
 * Golden outputs below were produced by the reference C code of SplitMix64 and xoshiro128**
 * (Vigna, prng.di.unimi.it), compiled with gcc, with the state seeded as rng.ts documents
 * (s0..s3 = low/high halves of the first two SplitMix64 outputs from the key). String keys are
 * the first 8 bytes, little-endian, of SHA-256 as computed by Python's hashlib.
 */
const GOLDEN: { seed: number | bigint | string; key: bigint; first: number[]; uniform: number[] }[] = [
  {
    seed: 0,
    key: 0n,
    first: [0xdec9045d, 0x9a089d75, 0xab77d362, 0xc3e16405, 0x5c95a8da, 0x60dea056, 0xc25a5140, 0xa4290614],
    uniform: [0.61726604091350246, 0.79137011775088884, 0.49598420252778053],
  },
  {
    seed: 42,
    key: 42n,
    first: [0x69e85a2a, 0xf843fad0, 0x0105185f, 0x8a1f1ea6, 0xa66be2a9, 0x9844904e, 0xaf4213e7, 0x85c95cd7],
    uniform: [0.83064748854815251, 0.73624121597312775, 0.80580464398591933],
  },
  {
    seed: 0xffffffffffffffffn,
    key: 0xffffffffffffffffn,
    first: [0x1c78f79c, 0x94a7662a, 0x211f3ea0, 0x243a6ba3, 0x03a7fd33, 0x11f80560, 0x93baaf24, 0x98f02a6a],
    uniform: [0.42084859995360246, 0.31335830077791305, 0.2313583635584],
  },
  {
    seed: 'hello',
    key: 0x0ea3b05fba4df22cn,
    first: [0x198b06b7, 0x1800d973, 0x627b7804, 0xda88a5b8, 0x9d844618, 0x31fa34d8, 0x0e5f042a, 0xf1d0fb85],
    uniform: [0.68115838769509995, 0.27344547649481055, 0.91262510905075811],
  },
];

/**
 * xoshiro128** written independently of rng.ts: BigInt arithmetic with explicit 32-bit masks
 * instead of Math.imul and int32 coercions.
 */
function referenceStream(key: bigint, count: number): number[] {
  const M32 = 0xffffffffn;
  const M64 = (1n << 64n) - 1n;
  let sm = key;
  const next64 = (): bigint => {
    sm = (sm + 0x9e3779b97f4a7c15n) & M64;
    let z = sm;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
    return z ^ (z >> 31n);
  };
  const z1 = next64();
  const z2 = next64();
  const s = [z1 & M32, z1 >> 32n, z2 & M32, z2 >> 32n];
  const rotl = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & M32;
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(Number((rotl((s[1]! * 5n) & M32, 7n) * 9n) & M32));
    const t = (s[1]! << 9n) & M32;
    s[2] = s[2]! ^ s[0]!;
    s[3] = s[3]! ^ s[1]!;
    s[1] = s[1]! ^ s[2]!;
    s[0] = s[0]! ^ s[3]!;
    s[2] = s[2]! ^ t;
    s[3] = rotl(s[3]!, 11n);
  }
  return out;
}

function draws(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.nextUint32());
}

describe('generator and seeding', () => {
  test('SplitMix64 from 0 gives the published first outputs', () => {
    let state = 0n;
    const out: bigint[] = [];
    for (let i = 0; i < 4; i++) {
      const [next, z] = splitMix64(state);
      state = next;
      out.push(z);
    }
    assert.deepEqual(out, [0xe220a8397b1dcdafn, 0x6e789e6aa1b965f4n, 0x06c45d188009454fn, 0xf88bb8a8724c81ecn]);
  });

  for (const g of GOLDEN) {
    test(`seed ${String(g.seed)}: key, first outputs and uniforms match the C reference`, () => {
      assert.equal(seedKey(g.seed), g.key);
      assert.deepEqual(draws(new Rng(g.seed), 8), g.first);
      const rng = new Rng(g.seed);
      draws(rng, 8);
      assert.deepEqual([rng.uniform(), rng.uniform(), rng.uniform()], g.uniform);
    });
  }

  test('10,000 outputs match an independent BigInt implementation', () => {
    for (const key of [1n, 123456789n, 0xdeadbeefcafebaben]) {
      assert.deepEqual(draws(new Rng(key), 10_000), referenceStream(key, 10_000));
    }
  });

  test('same seed, same bytes; different seeds differ', () => {
    const run = (seed: number | string) => {
      const r = new Rng(seed);
      return [r.uniformF32Array(100, -1, 1), r.normalArray(101, 0.5, 2), Float64Array.from({ length: 50 }, () => r.int(1000))];
    };
    assert.deepEqual(run(7), run(7));
    assert.deepEqual(run('seed-x'), run('seed-x'));
    assert.notDeepEqual(run(7), run(8));
    assert.notDeepEqual(run(5), run('5'));
  });

  test('invalid seeds are invalid_input on field seed', () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53, -1n, 1n << 64n, null as unknown as number]) {
      assert.throws(() => new Rng(bad), hasCode(ErrorCode.InvalidInput, 'seed'), String(bad));
    }
  });
});

describe('floating-point draws', () => {
  test('uniform() is the documented 27+26-bit construction of two draws', () => {
    const a = new Rng(99);
    const b = new Rng(99);
    for (let i = 0; i < 100; i++) {
      const [x, y] = draws(b, 2);
      const expected = (Math.floor(x! / 32) * 2 ** 26 + Math.floor(y! / 64)) / 2 ** 53;
      const u = a.uniform();
      assert.equal(u, expected);
      assert.ok(u >= 0 && u < 1);
    }
  });

  test('uniformF32Array stays in [lo, hi), covers it, and never reaches hi after rounding', () => {
    const r = new Rng(3);
    const xs = r.uniformF32Array(20_000, -2, 3);
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    for (const x of xs) {
      assert.ok(x >= -2 && x < 3);
      min = Math.min(min, x);
      max = Math.max(max, x);
      sum += x;
    }
    assert.ok(min < -1.99 && max > 2.99);
    assert.ok(Math.abs(sum / xs.length - 0.5) < 0.05); // sd of the mean: 5/√12/√20000 ≈ 0.0102
    // With hi = 2^-149 (the smallest F32) every product rounds to 0 or to hi; hi must be excluded.
    for (const x of new Rng(4).uniformF32Array(1000, 0, 2 ** -149)) assert.equal(x, 0);
    assert.throws(() => r.uniformF32Array(3, 1, 1), hasCode(ErrorCode.InvalidInput, 'hi'));
    assert.throws(() => r.uniformF32Array(-1), hasCode(ErrorCode.InvalidInput, 'n'));
  });

  test('normals: mean, variance and the one-sigma mass of 1e5 samples', () => {
    const n = 100_000;
    const xs = new Rng(11).normalArray(n);
    let sum = 0;
    let sq = 0;
    let within = 0;
    for (const x of xs) {
      sum += x;
      sq += x * x;
      if (Math.abs(x) < 1) within++;
    }
    const mean = sum / n;
    const variance = sq / n - mean * mean;
    assert.ok(Math.abs(mean) < 5 / Math.sqrt(n), `mean ${mean}`);
    assert.ok(Math.abs(variance - 1) < 5 * Math.sqrt(2 / n), `variance ${variance}`);
    assert.ok(Math.abs(within / n - 0.682689) < 5 * Math.sqrt(0.2166 / n), `P(|x|<1) ${within / n}`);
  });

  test('normalArray(n, mean, std) is mean + std times successive normal() calls', () => {
    const a = new Rng(5).normalArray(7, 3, 2);
    const r = new Rng(5);
    const expected = Float32Array.from({ length: 7 }, () => 3 + 2 * r.normal());
    assert.deepEqual(a, expected);
    const shifted = new Rng(12).normalArray(50_000, 10, 0.5);
    const m = shifted.reduce((s, x) => s + x, 0) / shifted.length;
    assert.ok(Math.abs(m - 10) < 0.01);
  });

  test('normal() follows Box-Muller on two uniforms and caches the sine half', () => {
    const a = new Rng(21);
    const b = new Rng(21);
    const u1 = 1 - b.uniform();
    const u2 = b.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    assert.equal(a.normal(), r * Math.cos(2 * Math.PI * u2));
    assert.equal(a.normal(), r * Math.sin(2 * Math.PI * u2));
    // The pair used exactly four 32-bit draws.
    assert.equal(a.nextUint32(), b.nextUint32());
  });
});

describe('integers and sampling', () => {
  test('int(10) passes a chi-square uniformity test', () => {
    const r = new Rng(2024);
    const k = 10;
    const n = 100_000;
    const counts = new Array<number>(k).fill(0);
    for (let i = 0; i < n; i++) counts[r.int(k)]!++;
    const expected = n / k;
    const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    assert.ok(chi2 < 27.88, `chi2 ${chi2} (9 dof, p = 0.001 critical value 27.88)`);
  });

  test('int() has no modulo bias: with max = 3·2^30, values below 2^30 are a third, not a half', () => {
    // Plain r % max would map [0, 2^30) twice (from r and r + max) and give them probability 1/2.
    const r = new Rng(77);
    const n = 30_000;
    let low = 0;
    for (let i = 0; i < n; i++) if (r.int(3 * 2 ** 30) < 2 ** 30) low++;
    assert.ok(Math.abs(low / n - 1 / 3) < 5 * Math.sqrt((2 / 9) / n), `fraction ${low / n}`);
  });

  test('int() above 2^32 uses 53-bit draws and stays in range', () => {
    const r = new Rng(8);
    let above32 = 0;
    for (let i = 0; i < 1000; i++) {
      const x = r.int(2 ** 40);
      assert.ok(Number.isInteger(x) && x >= 0 && x < 2 ** 40);
      if (x >= 2 ** 32) above32++;
    }
    assert.ok(above32 > 900);
    const y = r.int(2 ** 53);
    assert.ok(y >= 0 && y < 2 ** 53);
    assert.equal(r.int(1), 0);
    for (const bad of [0, -3, 1.5, 2 ** 53 + 2, Number.NaN]) assert.throws(() => r.int(bad), hasCode(ErrorCode.InvalidInput, 'maxExclusive'));
  });

  test('shuffle gives permutations, all 6 of 3 elements about equally often', () => {
    const r = new Rng(31);
    const counts = new Map<string, number>();
    const n = 60_000;
    for (let i = 0; i < n; i++) {
      const key = r.shuffle(['a', 'b', 'c']).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    assert.equal(counts.size, 6);
    const chi2 = [...counts.values()].reduce((s, c) => s + (c - n / 6) ** 2 / (n / 6), 0);
    assert.ok(chi2 < 20.52, `chi2 ${chi2} (5 dof, p = 0.001 critical value 20.52)`);
    const typed = r.shuffle(Int32Array.from({ length: 100 }, (_, i) => i));
    assert.deepEqual([...typed].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
    assert.deepEqual(new Rng(1).shuffle([1, 2, 3, 4, 5, 6]), new Rng(1).shuffle([1, 2, 3, 4, 5, 6]));
  });

  test('sampleWithoutReplacement: distinct, in range, and the sparse path equals a dense partial Fisher-Yates', () => {
    const n = 1_000_000;
    const k = 50;
    const sample = new Rng(6).sampleWithoutReplacement(n, k);
    assert.equal(new Set(sample).size, k);
    for (const x of sample) assert.ok(Number.isInteger(x) && x >= 0 && x < n);
    // Dense reference written here: the first k steps of a forward Fisher-Yates over 0..n-1.
    const ref = new Rng(6);
    const perm = Int32Array.from({ length: n }, (_, i) => i);
    const expected: number[] = [];
    for (let i = 0; i < k; i++) {
      const j = i + ref.int(n - i);
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      expected.push(perm[i]!);
    }
    assert.deepEqual(sample, expected);
    const all = new Rng(9).sampleWithoutReplacement(20, 20);
    assert.deepEqual([...all].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i));
    assert.deepEqual(new Rng(9).sampleWithoutReplacement(5, 0), []);
    assert.throws(() => new Rng(9).sampleWithoutReplacement(3, 4), hasCode(ErrorCode.InvalidInput, 'k'));
  });

  test('choice picks members; an empty array is invalid_input', () => {
    const r = new Rng(2);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(r.choice(['x', 'y', 'z']));
    assert.deepEqual([...seen].sort(), ['x', 'y', 'z']);
    assert.throws(() => r.choice([]), hasCode(ErrorCode.InvalidInput, 'items'));
  });

  test('bernoulliMask: p = 0 and 1 are exact, p = 0.3 is about 30 %', () => {
    const r = new Rng(13);
    assert.ok(r.bernoulliMask(1000, 0).every((b) => b === 0));
    assert.ok(r.bernoulliMask(1000, 1).every((b) => b === 1));
    const n = 100_000;
    const ones = r.bernoulliMask(n, 0.3).reduce((s, b) => s + b, 0);
    assert.ok(Math.abs(ones / n - 0.3) < 5 * Math.sqrt(0.21 / n));
    for (const bad of [-0.1, 1.1, Number.NaN]) assert.throws(() => r.bernoulliMask(3, bad), hasCode(ErrorCode.InvalidInput, 'p'));
  });
});

describe('substreams', () => {
  test('fork(label) depends on the key and label only, matching SHA-256 + the C reference', () => {
    const parent = new Rng(0);
    const before = parent.fork('request-7');
    draws(parent, 1000);
    const after = parent.fork('request-7');
    assert.equal(before.key, 0x3f1225d1cc56b138n); // sha256(8 zero bytes ‖ "request-7")[0..8], LE
    const expected = [0x18f15d71, 0x39dec587, 0x4350d0a3, 0x9ce6dab8, 0x9f69c9f9, 0x33ea8517, 0x31248cbd, 0xfa9ee5c3];
    assert.deepEqual(draws(before, 8), expected);
    assert.deepEqual(draws(after, 8), expected);
  });

  test('fork does not advance the parent; labels give different streams; numbers are their strings', () => {
    const a = new Rng(50);
    a.fork('x');
    assert.deepEqual(draws(a, 4), draws(new Rng(50), 4));
    const r = new Rng(50);
    assert.notDeepEqual(draws(r.fork('x'), 4), draws(r.fork('y'), 4));
    assert.notDeepEqual(draws(r.fork('x'), 4), draws(r, 4));
    assert.deepEqual(draws(r.fork(3), 4), draws(r.fork('3'), 4));
    assert.notDeepEqual(draws(r.fork('a').fork('b'), 4), draws(r.fork('a').fork('c'), 4));
    assert.throws(() => r.fork(Number.NaN), hasCode(ErrorCode.InvalidInput, 'label'));
  });

  test('split() seeds a child from the next two draws (low word first) and advances the parent', () => {
    const a = new Rng(60);
    const b = new Rng(60);
    const child = a.split();
    const [lo, hi] = draws(b, 2);
    assert.equal(child.key, (BigInt(hi!) << 32n) | BigInt(lo!));
    assert.deepEqual(draws(child, 5), referenceStream(child.key, 5));
    assert.deepEqual(draws(a, 3), draws(b, 3));
  });
});
