/** DareMask inlines xoshiro128**: it must be draw-for-draw the project's Rng stream. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@weightsmith/tensor';
import { DareMask } from '../src/merge/dare-mask.js';

test('DareMask keeps entry t iff Rng(seed).fork(label)\'s t-th draw is below density·2^32, across blocks', () => {
  for (const [seed, label, density] of [[42, 'm/0', 0.3], ['abc', 'layers.0.q_proj/3', 0.9], [7, 'x', 0.5]] as const) {
    const n = 1000;
    const gain = 1 / density;
    const mask = new DareMask(seed, label, density);
    const first = new Float32Array(400).fill(2);
    const second = new Float32Array(n - 400).fill(2);
    mask.apply(first, gain);
    mask.apply(second, gain);
    const got = [...first, ...second];
    const rng = new Rng(seed).fork(label);
    let kept = 0;
    for (let t = 0; t < n; t++) {
      const keep = rng.nextUint32() < density * 2 ** 32;
      if (keep) kept++;
      assert.equal(got[t], keep ? Math.fround(2 * gain) : 0, `${label}[${t}]`);
    }
    assert.ok(kept > 0 && kept < n);
  }
});
