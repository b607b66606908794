import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@weightsmith/tensor';
import { isWeightsmithError } from '@weightsmith/core';
import { makeSchedule, strengthToTStart } from '../src/diffusion/schedule.js';
import { ddimTimesteps } from '../src/diffusion/steps.js';
import { epsFromV, epsFromX0, toEps, toX0, vFromEps, vFromX0, x0FromEps, x0FromV } from '../src/diffusion/predictions.js';

const paper = { timesteps: 1000, betaSchedule: 'linear' as const, betaStart: 1e-4, betaEnd: 0.02 };

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`);
}

describe('DDPM schedule (paper: T=1000, linear 1e-4..0.02)', () => {
  const s = makeSchedule(paper);

  test('betas are the linspace end points and step', () => {
    assert.equal(s.betas.length, 1000);
    assert.equal(s.betas[0], 1e-4);
    assert.equal(s.betas[999], 0.02);
    close(s.betas[1]!, 1e-4 + 0.0199 / 999, 1e-18, 'beta_1');
    close(s.betas[500]!, 1e-4 + (500 * 0.0199) / 999, 1e-17, 'beta_500');
  });

  test('alpha bar by hand for the first steps; alphasCumprodPrev shifts by one with 1 first', () => {
    const b1 = 1e-4 + 0.0199 / 999;
    close(s.alphas[0]!, 1 - 1e-4, 1e-16, 'alpha_0');
    close(s.alphasCumprod[0]!, 1 - 1e-4, 1e-16, 'abar_0');
    close(s.alphasCumprod[1]!, (1 - 1e-4) * (1 - b1), 1e-16, 'abar_1');
    assert.equal(s.alphasCumprodPrev[0], 1);
    assert.equal(s.alphasCumprodPrev[1], s.alphasCumprod[0]);
    close(s.sqrtAlphasCumprod[1]!, Math.sqrt((1 - 1e-4) * (1 - b1)), 1e-16, 'sqrt abar_1');
    close(s.sqrtOneMinusAlphasCumprod[1]!, Math.sqrt(1 - (1 - 1e-4) * (1 - b1)), 1e-15, 'sqrt 1-abar_1');
  });

  test('final alpha bar matches a log-sum computation (and the known ~4.04e-5)', () => {
    let logSum = 0;
    for (let i = 0; i < 1000; i++) logSum += Math.log1p(-(1e-4 + (i * 0.0199) / 999));
    const expected = Math.exp(logSum);
    close(s.alphasCumprod[999]! / expected, 1, 1e-11, 'abar_999 relative');
    assert.ok(expected > 4.0e-5 && expected < 4.1e-5, `abar_999 ${expected}`);
  });

  test('posterior variance and mean coefficients by hand', () => {
    const b1 = s.betas[1]!;
    const a0 = 1 - 1e-4;
    const a1 = a0 * (1 - b1);
    assert.equal(s.posteriorVariance[0], 0);
    close(s.posteriorVariance[1]!, (b1 * (1 - a0)) / (1 - a1), 1e-20, 'beta tilde_1');
    close(s.posteriorMeanCoefX0[0]!, 1, 1e-12, 'coefX0_0');
    assert.equal(s.posteriorMeanCoefXt[0], 0);
    close(s.posteriorMeanCoefX0[1]!, (b1 * Math.sqrt(a0)) / (1 - a1), 1e-12, 'coefX0_1');
    close(s.posteriorMeanCoefXt[1]!, ((1 - a0) * Math.sqrt(1 - b1)) / (1 - a1), 1e-12, 'coefXt_1');
    // The posterior mean of x_{t-1} given x0 = x_t = 1 at large t is consistent with q: mean coefficients sum
    // is (√ᾱ_{t-1}(1-α_t) + √α_t(1-ᾱ_{t-1}))/(1-ᾱ_t), checked against that closed form at t = 700.
    const t = 700;
    const ap = s.alphasCumprod[t - 1]!;
    const at = s.alphasCumprod[t]!;
    const al = 1 - s.betas[t]!;
    close(s.posteriorMeanCoefX0[t]! + s.posteriorMeanCoefXt[t]!, (Math.sqrt(ap) * (1 - al) + Math.sqrt(al) * (1 - ap)) / (1 - at), 1e-12, 'sum');
  });

  test('rejects malformed schedules naming the field', () => {
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ timesteps: 0 }, 'timesteps'],
      [{ timesteps: 10.5 }, 'timesteps'],
      [{ betaSchedule: 'cosine' }, 'betaSchedule'],
      [{ betaStart: 0 }, 'betaStart'],
      [{ betaEnd: 1 }, 'betaEnd'],
      [{ betaStart: 0.03 }, 'betaEnd'],
      [{ betaEnd: Number.NaN }, 'betaEnd'],
    ];
    for (const [patch, field] of bad) {
      assert.throws(() => makeSchedule({ ...paper, ...patch } as never), (e) => isWeightsmithError(e, 'invalid_input') && e.field === field, JSON.stringify(patch));
    }
  });
});

describe('strength and DDIM spacing', () => {
  test('strengthToTStart = round(strength·T) − 1', () => {
    assert.equal(strengthToTStart(1, 1000), 999);
    assert.equal(strengthToTStart(0.5, 1000), 499);
    assert.equal(strengthToTStart(0.0005, 1000), 0);
    assert.equal(strengthToTStart(0.0004, 1000), -1);
    for (const bad of [0, -0.1, 1.01, Number.NaN, Infinity]) {
      assert.throws(() => strengthToTStart(bad, 1000), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'strength');
    }
  });

  test('leading spacing as diffusers DDIMScheduler: 50 of 1000 → 980..0 by 20', () => {
    const ts = Array.from(ddimTimesteps(1000, 50));
    assert.equal(ts.length, 50);
    assert.equal(ts[0], 980);
    assert.equal(ts[49], 0);
    for (let i = 1; i < 50; i++) assert.equal(ts[i - 1]! - ts[i]!, 20);
    assert.deepEqual(Array.from(ddimTimesteps(10, 3)), [6, 3, 0]);
    assert.deepEqual(Array.from(ddimTimesteps(5, 5)), [4, 3, 2, 1, 0]);
    for (const bad of [0, 11, 2.5]) {
      assert.throws(() => ddimTimesteps(10, bad), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'steps');
    }
  });
});

describe('prediction conversions', () => {
  const rng = new Rng('predictions');
  const n = 64;
  const x0 = Float64Array.from(rng.normalArray(n));
  const eps = Float64Array.from(rng.normalArray(n));
  for (const abar of [0.9999, 0.5, 4e-5]) {
    test(`round trips at abar=${abar}`, () => {
      const a = Math.sqrt(abar);
      const r = Math.sqrt(1 - abar);
      const xt = x0.map((v, i) => a * v + r * eps[i]!);
      const v = x0.map((x, i) => a * eps[i]! - r * x);
      const maxErr = (p: ArrayLike<number>, q: ArrayLike<number>) => {
        let m = 0;
        for (let i = 0; i < p.length; i++) m = Math.max(m, Math.abs(p[i]! - q[i]!));
        return m;
      };
      // x0 from eps divides by √ᾱ, so its error grows as ᾱ → 0.
      assert.ok(maxErr(x0FromEps(xt, eps, abar), x0) < 1e-12 / a);
      assert.ok(maxErr(epsFromX0(xt, x0, abar), eps) < 1e-12 / r);
      assert.ok(maxErr(x0FromV(xt, v, abar), x0) < 1e-12);
      assert.ok(maxErr(epsFromV(xt, v, abar), eps) < 1e-12);
      assert.ok(maxErr(vFromX0(xt, x0, abar), v) < 1e-12 / r);
      assert.ok(maxErr(vFromEps(xt, eps, abar), v) < 1e-12 / a);
      assert.ok(maxErr(toEps('v', xt, v, abar), eps) < 1e-12);
      assert.ok(maxErr(toX0('eps', xt, eps, abar), x0) < 1e-12 / a);
      assert.ok(maxErr(toX0('x0', xt, x0, abar), x0) === 0);
    });
  }
});
