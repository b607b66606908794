import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@weightsmith/tensor';
import { isWeightsmithError } from '@weightsmith/core';
import { makeSchedule, strengthToTStart } from '../src/diffusion/schedule.js';
import { sampleDdim, sampleDdpm, type Denoise, type DdimOptions } from '../src/diffusion/samplers.js';
import type { PredictionType } from '../src/diffusion/predictions.js';

const schedule = makeSchedule({ timesteps: 1000, betaSchedule: 'linear', betaStart: 1e-4, betaEnd: 0.02 });
const P = 12;
const E = 3;

// ᾱ computed here independently of the schedule module (product of 1 − β), for the oracles.
const abarTable = (() => {
  const out = new Float64Array(1000);
  let p = 1;
  for (let t = 0; t < 1000; t++) {
    p *= 1 - (1e-4 + (t * (0.02 - 1e-4)) / 999);
    out[t] = p;
  }
  return out;
})();

/** Target x0 of a row = a fixed function of its condition: target[i] = cond[i % E] · (1 + i/P). */
function targetOf(cond: ArrayLike<number>): Float32Array {
  const out = new Float32Array(P);
  for (let i = 0; i < P; i++) out[i] = cond[i % E]! * (1 + i / P);
  return out;
}

/** A perfect denoiser: knows each row's true x0 (from its cond) and answers in the given prediction type. */
function oracle(prediction: PredictionType): Denoise {
  return async (x, t, cond) => {
    const B = t.length;
    const out = new Float32Array(B * P);
    for (let b = 0; b < B; b++) {
      const x0 = targetOf(cond.subarray(b * E, (b + 1) * E));
      const abar = abarTable[t[b]!]!;
      for (let i = 0; i < P; i++) {
        const xt = x[b * P + i]!;
        const eps = (xt - Math.sqrt(abar) * x0[i]!) / Math.sqrt(1 - abar);
        out[b * P + i] = prediction === 'x0' ? x0[i]! : prediction === 'eps' ? eps : Math.sqrt(abar) * eps - Math.sqrt(1 - abar) * x0[i]!;
      }
    }
    return out;
  };
}

/** A row-wise denoiser that is not an oracle: a fixed affine map of x, t and cond. */
const rowwise: Denoise = async (x, t, cond) => {
  const B = t.length;
  const out = new Float32Array(B * P);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < P; i++) {
      out[b * P + i] = 0.6 * x[b * P + i]! + 0.3 * x[b * P + ((i + 1) % P)]! + cond[b * E + (i % E)]! - t[b]! / 2000;
    }
  }
  return out;
};

const condA = Float32Array.from([0.5, -1.0, 0.25]);
const condB = Float32Array.from([-0.3, 0.8, 1.2]);
const both = Float32Array.from([...condA, ...condB]);

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function base(denoise: Denoise, cond: Float32Array, seeds: string[], prediction: PredictionType = 'x0'): DdimOptions {
  return { denoise, shape: { batch: seeds.length, P }, cond, schedule, prediction, rngs: seeds.map((s) => new Rng(s)) };
}

describe('oracle denoiser lands on the target', () => {
  const expected = Float32Array.from([...targetOf(condA), ...targetOf(condB)]);
  for (const prediction of ['x0', 'eps', 'v'] as const) {
    test(`DDIM eta=0, 50 steps, ${prediction}-prediction`, async () => {
      const out = await sampleDdim(base(oracle(prediction), both, ['a', 'b'], prediction));
      assert.ok(maxAbs(out, expected) <= 1e-5, `err ${maxAbs(out, expected)}`);
    });
    test(`DDIM eta=1, 10 steps, ${prediction}-prediction`, async () => {
      const out = await sampleDdim({ ...base(oracle(prediction), both, ['a', 'b'], prediction), steps: 10, eta: 1 });
      assert.ok(maxAbs(out, expected) <= 1e-5, `err ${maxAbs(out, expected)}`);
    });
    test(`DDPM 1000 steps, ${prediction}-prediction`, async () => {
      const out = await sampleDdpm(base(oracle(prediction), both, ['a', 'b'], prediction));
      assert.ok(maxAbs(out, expected) <= 1e-4, `err ${maxAbs(out, expected)}`);
    });
  }
});

describe('classifier-free guidance', () => {
  const nullCond = new Float32Array(E); // the oracle's unconditional target is then 0

  test('scale 1 equals unguided sampling (DDIM eta=0.5 and DDPM, non-oracle denoiser)', async () => {
    const plain = await sampleDdim({ ...base(rowwise, both, ['a', 'b']), steps: 20, eta: 0.5 });
    const guided = await sampleDdim({ ...base(rowwise, both, ['a', 'b']), steps: 20, eta: 0.5, guidance: { scale: 1, nullCond } });
    assert.ok(maxAbs(plain, guided) <= 1e-5, `err ${maxAbs(plain, guided)}`);
    const plainP = await sampleDdpm(base(rowwise, condA, ['a']));
    const guidedP = await sampleDdpm({ ...base(rowwise, condA, ['a']), guidance: { scale: 1, nullCond } });
    assert.ok(maxAbs(plainP, guidedP) <= 1e-4, `err ${maxAbs(plainP, guidedP)}`);
  });

  test('scale s extrapolates uncond + s·(cond − uncond), for every prediction type', async () => {
    for (const prediction of ['x0', 'eps', 'v'] as const) {
      const out = await sampleDdim({ ...base(oracle(prediction), condA, ['a'], prediction), guidance: { scale: 3, nullCond } });
      const target = targetOf(condA).map((v) => 3 * v);
      assert.ok(maxAbs(out, target) <= 1e-4, `${prediction}: err ${maxAbs(out, target)}`);
    }
  });

  test('one denoiser call per step, carrying cond rows then null rows', async () => {
    const calls: Array<{ rows: number; cond: number[] }> = [];
    const spy: Denoise = async (x, t, cond) => {
      calls.push({ rows: t.length, cond: Array.from(cond) });
      return rowwise(x, t, cond);
    };
    const nc = Float32Array.from([9, 8, 7]);
    await sampleDdim({ ...base(spy, both, ['a', 'b']), steps: 5, guidance: { scale: 2, nullCond: nc } });
    assert.equal(calls.length, 5);
    for (const c of calls) {
      assert.equal(c.rows, 4);
      assert.deepEqual(c.cond, [...condA, ...condB, 9, 8, 7, 9, 8, 7]);
    }
  });
});

describe('determinism and batch independence', () => {
  test('same seeds give the same bytes; another seed differs', async () => {
    const o = () => ({ ...base(rowwise, both, ['s1', 's2']), steps: 25, eta: 0.7 });
    const a = await sampleDdim(o());
    const b = await sampleDdim(o());
    assert.deepEqual(Buffer.from(a.buffer), Buffer.from(b.buffer));
    const c = await sampleDdim({ ...o(), rngs: [new Rng('s1'), new Rng('other')] });
    assert.deepEqual(c.subarray(0, P), a.subarray(0, P));
    assert.notDeepEqual(c.subarray(P), a.subarray(P));
  });

  for (const [name, run] of [
    ['DDPM', (o: DdimOptions) => sampleDdpm(o)],
    ['DDIM eta=0.5', (o: DdimOptions) => sampleDdim({ ...o, steps: 30, eta: 0.5 })],
    ['DDIM with guidance', (o: DdimOptions) => sampleDdim({ ...o, guidance: { scale: 2.5, nullCond: Float32Array.from([0.1, 0, -0.1]) } })],
  ] as const) {
    test(`${name}: row a sampled with b gives the same bytes as a alone`, async () => {
      const together = await run(base(rowwise, both, ['seed-a', 'seed-b']));
      const alone = await run(base(rowwise, condA, ['seed-a']));
      const aloneB = await run(base(rowwise, condB, ['seed-b']));
      assert.deepEqual(Buffer.from(together.slice(0, P).buffer), Buffer.from(alone.buffer));
      assert.deepEqual(Buffer.from(together.slice(P).buffer), Buffer.from(aloneB.buffer));
    });
  }
});

describe('SDEdit (startFrom)', () => {
  const input = Float32Array.from({ length: P }, (_, i) => Math.sin(i + 1));

  test('noises x0 to exactly tStart with the row seed, then runs tStart..0', async () => {
    const seen: Array<{ t: number; x: Float32Array }> = [];
    const spy: Denoise = async (x, t, cond) => {
      seen.push({ t: t[0]!, x: x.slice() });
      return rowwise(x, t, cond);
    };
    const steps: number[] = [];
    await sampleDdpm({ ...base(spy, condA, ['sd']), startFrom: { x0: input, tStart: 9 }, onStep: (d, total) => steps.push(d * 100 + total) });
    assert.deepEqual(seen.map((s) => s.t), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    assert.deepEqual(steps, [110, 210, 310, 410, 510, 610, 710, 810, 910, 1010]);
    const z = new Rng('sd').normalArray(P);
    const expected = input.map((v, i) => Math.sqrt(abarTable[9]!) * v + Math.sqrt(1 - abarTable[9]!) * z[i]!);
    assert.ok(maxAbs(seen[0]!.x, expected) <= 1e-6);

    seen.length = 0;
    await sampleDdim({ ...base(spy, condA, ['sd']), startFrom: { x0: input, tStart: 499 } });
    assert.deepEqual(seen.map((s) => s.t), [499, 480, 460, 440, 420, 400, 380, 360, 340, 320, 300, 280, 260, 240, 220, 200, 180, 160, 140, 120, 100, 80, 60, 40, 20, 0]);
  });

  test('strength → 0 returns the input: exactly below 0.5/T, approximately for a few steps', async () => {
    const none = await sampleDdpm({ ...base(rowwise, condA, ['sd']), startFrom: { x0: input, tStart: strengthToTStart(0.0004, 1000) } });
    assert.deepEqual(none, input);
    const noneDdim = await sampleDdim({ ...base(rowwise, condA, ['sd']), startFrom: { x0: input, tStart: -1 } });
    assert.deepEqual(noneDdim, input);
    // A denoiser that predicts x0 = x_t (what a trained one does at very low noise): the result stays within
    // a few noise standard deviations of the input.
    const identity: Denoise = async (x) => x.slice();
    const tStart = strengthToTStart(0.003, 1000); // 2
    for (const out of [
      await sampleDdpm({ ...base(identity, condA, ['sd']), startFrom: { x0: input, tStart } }),
      await sampleDdim({ ...base(identity, condA, ['sd']), startFrom: { x0: input, tStart } }),
    ]) {
      assert.ok(maxAbs(out, input) <= 5 * Math.sqrt(1 - abarTable[tStart]!), `err ${maxAbs(out, input)}`);
    }
  });

  test('with an oracle, SDEdit from another start still lands on the condition target', async () => {
    const out = await sampleDdim({ ...base(oracle('eps'), condA, ['sd'], 'eps'), startFrom: { x0: input, tStart: 700 }, eta: 0.3 });
    assert.ok(maxAbs(out, targetOf(condA)) <= 1e-4);
  });
});

describe('clipX0 and validation', () => {
  test('clipX0 bounds the predicted x0, so the DDIM result is clipped too', async () => {
    const out = await sampleDdim({ ...base(oracle('x0'), Float32Array.from([5, -5, 0.5]), ['c']), clipX0: 1 });
    const expected = targetOf([5, -5, 0.5]).map((v) => Math.max(-1, Math.min(1, v)));
    assert.ok(maxAbs(out, expected) <= 1e-6);
  });

  const cases: Array<[string, (o: DdimOptions) => DdimOptions, string, string]> = [
    ['steps 0', (o) => ({ ...o, steps: 0 }), 'invalid_input', 'steps'],
    ['steps > T', (o) => ({ ...o, steps: 1001 }), 'invalid_input', 'steps'],
    ['steps fractional', (o) => ({ ...o, steps: 2.5 }), 'invalid_input', 'steps'],
    ['eta < 0', (o) => ({ ...o, eta: -0.1 }), 'invalid_input', 'eta'],
    ['guidance NaN', (o) => ({ ...o, guidance: { scale: Number.NaN, nullCond: new Float32Array(E) } }), 'invalid_input', 'guidance'],
    ['nullCond wrong size', (o) => ({ ...o, guidance: { scale: 2, nullCond: new Float32Array(E + 1) } }), 'shape_mismatch', 'guidance.nullCond'],
    ['rngs count', (o) => ({ ...o, rngs: [new Rng(1)] }), 'invalid_input', 'rngs'],
    ['cond not divisible', (o) => ({ ...o, cond: new Float32Array(7) }), 'shape_mismatch', 'cond'],
    ['cond NaN', (o) => ({ ...o, cond: Float32Array.from([0, 0, 0, 0, Number.NaN, 0]) }), 'non_finite', 'cond'],
    ['tStart too big', (o) => ({ ...o, startFrom: { x0: new Float32Array(2 * P), tStart: 1000 } }), 'invalid_input', 'strength'],
    ['startFrom size', (o) => ({ ...o, startFrom: { x0: new Float32Array(P), tStart: 5 } }), 'shape_mismatch', 'startFrom.x0'],
    ['prediction', (o) => ({ ...o, prediction: 'sample' as never }), 'invalid_input', 'prediction'],
    ['clipX0', (o) => ({ ...o, clipX0: 0 }), 'invalid_input', 'clipX0'],
    ['denoiser output size', (o) => ({ ...o, denoise: async () => new Float32Array(3) }), 'invalid_format', 'denoiser'],
    ['denoiser output NaN', (o) => ({ ...o, denoise: async (x) => x.map(() => Number.NaN) }), 'non_finite', 'denoiser output'],
  ];
  for (const [name, patch, code, field] of cases) {
    test(`rejects ${name}`, async () => {
      await assert.rejects(sampleDdim(patch(base(rowwise, both, ['a', 'b']))), (e) => isWeightsmithError(e, code as never) && e.field === field);
    });
  }
});
