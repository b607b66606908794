/**
 * Through the whole pipeline (PEFT files → merge → merged factors): rsLoRA, rank_pattern,
 * alpha_pattern, mixed ranks and BF16 inputs give the ΔW that PEFT's scaling rules define.
 * The expected scales are written out by hand here, not taken from the code under test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serializeSafetensors } from '@weightsmith/safetensors';
import { Rng, bf16ToF32, f32ToBF16 } from '@weightsmith/tensor';
import { openPeftAdapterMemory, type PeftAdapter } from '../src/adapter/index.js';
import { mergeAdapters } from '../src/pipeline/merge-adapters.js';

const Q = 'model.layers.0.self_attn.q_proj'; // 6 → 5
const V = 'model.layers.0.self_attn.v_proj'; // 6 → 4
const D_IN = 6;
const D_OUT: Record<string, number> = { [Q]: 5, [V]: 4 };

interface Built {
  adapter: PeftAdapter;
  /** Factors as PEFT will see them (BF16-rounded where stored as BF16), F64 ΔW without scale. */
  products: Record<string, Float64Array>;
}

async function build(seed: number, config: Record<string, unknown>, ranks: Record<string, number>, dtype: 'F32' | 'BF16'): Promise<Built> {
  const rng = new Rng(seed);
  const tensors = [];
  const products: Record<string, Float64Array> = {};
  for (const m of [Q, V]) {
    const r = ranks[m]!;
    const dOut = D_OUT[m]!;
    let A = rng.normalArray(r * D_IN);
    let B = rng.normalArray(dOut * r);
    if (dtype === 'BF16') {
      // What PEFT reads back from a BF16 file is the rounded value.
      A = bf16ToF32(f32ToBF16(A));
      B = bf16ToF32(f32ToBF16(B));
    }
    const p = new Float64Array(dOut * D_IN);
    for (let o = 0; o < dOut; o++) for (let j = 0; j < r; j++) for (let i = 0; i < D_IN; i++) p[o * D_IN + i]! += B[o * r + j]! * A[j * D_IN + i]!;
    products[m] = p;
    const data = (x: Float32Array): Float32Array | Uint16Array => (dtype === 'BF16' ? f32ToBF16(x) : x);
    tensors.push({ name: `base_model.model.${m}.lora_A.weight`, dtype, shape: [r, D_IN], data: data(A) });
    tensors.push({ name: `base_model.model.${m}.lora_B.weight`, dtype, shape: [dOut, r], data: data(B) });
  }
  const weights = await serializeSafetensors(tensors, { format: 'pt' });
  const adapter = await openPeftAdapterMemory({ config: { peft_type: 'LORA', target_modules: ['q_proj', 'v_proj'], ...config }, weights });
  return { adapter, products };
}

test('cat of rsLoRA + rank/alpha patterns + BF16 + mixed ranks equals Σ w_i s_i B_i A_i with PEFT scales', async () => {
  // Adapter 1: rsLoRA, r = 4, α = 8 → q: 8/√4 = 4; v via rank_pattern r = 2 and alpha_pattern α = 2 → 2/√2.
  const one = await build(1, { r: 4, lora_alpha: 8, use_rslora: true, rank_pattern: { v_proj: 2 }, alpha_pattern: { 'layers.0.self_attn.v_proj': 2 } }, { [Q]: 4, [V]: 2 }, 'BF16');
  // Adapter 2: plain, r = 3, α = 6 → 2 everywhere; alpha_pattern key 'self_attn' must NOT match (PEFT matches at a dotted suffix).
  const two = await build(2, { r: 3, lora_alpha: 6, alpha_pattern: { self_attn: 100 } }, { [Q]: 3, [V]: 3 }, 'F32');
  const expectedScale: Record<'one' | 'two', Record<string, number>> = { one: { [Q]: 8 / Math.sqrt(4), [V]: 2 / Math.sqrt(2) }, two: { [Q]: 6 / 3, [V]: 6 / 3 } };
  const w = [0.75, -1.5];

  const { spec, report } = await mergeAdapters(
    [
      { adapter: one.adapter, weight: w[0]!, ref: 'one' },
      { adapter: two.adapter, weight: w[1]!, ref: 'two' },
    ],
    { method: 'cat', dtype: 'F32' },
  );
  assert.equal(report.k, 7, 'cat rank is the largest Σ r_i over modules (4 + 3)');
  for (const module of spec.modules) {
    const { A, B } = await module.produce();
    const k = spec.k;
    for (let o = 0; o < module.dOut; o++) {
      for (let i = 0; i < D_IN; i++) {
        let got = 0;
        for (let j = 0; j < k; j++) got += B[o * k + j]! * A[j * D_IN + i]!;
        const at = o * D_IN + i;
        const want = w[0]! * expectedScale.one[module.name]! * one.products[module.name]![at]! + w[1]! * expectedScale.two[module.name]! * two.products[module.name]![at]!;
        assert.ok(Math.abs(got - want) <= 1e-5 * (1 + Math.abs(want)), `${module.name}[${o},${i}]: ${got} vs ${want}`);
      }
    }
  }
  await one.adapter.close();
  await two.adapter.close();
});
