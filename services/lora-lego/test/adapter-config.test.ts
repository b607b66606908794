import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isWeightsmithError } from '@weightsmith/core';
import { matchPatternKey, parsePeftConfig, resolveModuleScaling } from '../src/adapter/index.js';

const cfg = (o: Record<string, unknown>) => parsePeftConfig(JSON.stringify({ r: 8, lora_alpha: 16, ...o }));

describe('resolveModuleScaling (PEFT rules)', () => {
  test('plain: scale = alpha / r', () => {
    const s = resolveModuleScaling(cfg({}), 'model.layers.0.self_attn.q_proj');
    assert.deepEqual([s.r, s.alpha, s.scale], [8, 16, 2]);
  });

  test('rsLoRA: scale = alpha / sqrt(r)', () => {
    const s = resolveModuleScaling(cfg({ r: 16, lora_alpha: 8, use_rslora: true }), 'x.q_proj');
    assert.equal(s.scale, 2); // 8 / 4
  });

  test('rank_pattern and alpha_pattern override per module, matched on a dotted suffix', () => {
    const c = cfg({ rank_pattern: { 'layers\\.1\\..*q_proj': 4, v_proj: 2 }, alpha_pattern: { q_proj: 32 } });
    const q0 = resolveModuleScaling(c, 'model.layers.0.self_attn.q_proj');
    assert.deepEqual([q0.r, q0.alpha, q0.scale], [8, 32, 4]);
    const q1 = resolveModuleScaling(c, 'model.layers.1.self_attn.q_proj');
    assert.deepEqual([q1.r, q1.alpha, q1.scale], [4, 32, 8]);
    assert.equal(q1.rankPatternKey, 'layers\\.1\\..*q_proj');
    const v = resolveModuleScaling(c, 'model.layers.0.self_attn.v_proj');
    assert.deepEqual([v.r, v.alpha, v.scale], [2, 16, 8]);
  });

  test('a key matching only in the middle, or not at a dot boundary, does not match', () => {
    const c = cfg({ rank_pattern: { self_attn: 4, proj: 2, 'layers.0': 3 } });
    const s = resolveModuleScaling(c, 'model.layers.0.self_attn.q_proj');
    assert.equal(s.r, 8);
    assert.equal(s.rankPatternKey, undefined);
    // but the whole name matches
    assert.equal(matchPatternKey(['model.layers.0.self_attn.q_proj'], 'model.layers.0.self_attn.q_proj'), 'model.layers.0.self_attn.q_proj');
  });

  test('first matching key in config order wins', () => {
    const c = cfg({ rank_pattern: { 'q_proj': 4, '.*\\.q_proj': 2 } });
    assert.equal(resolveModuleScaling(c, 'a.q_proj').r, 4);
    const c2 = cfg({ rank_pattern: { '.*\\.q_proj': 2, q_proj: 4 } });
    assert.equal(resolveModuleScaling(c2, 'a.q_proj').r, 2);
  });

  test('rsLoRA with patterns', () => {
    const c = cfg({ use_rslora: true, rank_pattern: { v_proj: 4 }, alpha_pattern: { v_proj: 6 } });
    assert.equal(resolveModuleScaling(c, 'l.v_proj').scale, 3); // 6 / sqrt(4)
    assert.equal(resolveModuleScaling(c, 'l.q_proj').scale, 16 / Math.sqrt(8));
  });
});

describe('parsePeftConfig', () => {
  const fails = (text: string, field: string, code = 'invalid_format', re?: RegExp) => {
    assert.throws(
      () => parsePeftConfig(text, 'a1'),
      (e: unknown) => isWeightsmithError(e) && e.code === code && e.field === field && (re ? re.test(e.message) : true),
    );
  };
  test('keeps unknown keys and accepts PEFT nulls', () => {
    const c = parsePeftConfig(JSON.stringify({ r: 4, lora_alpha: 8, megatron_config: null, task_type: null, target_modules: 'q_proj', layer_replication: null }));
    assert.equal((c as Record<string, unknown>).megatron_config, null);
    assert.equal(c.target_modules, 'q_proj');
  });
  test('not JSON', () => fails('{r: 4', 'adapter_config.json', 'invalid_format', /not valid JSON/));
  test('not an object', () => fails('[1]', 'adapter_config.json'));
  test('r missing', () => fails('{"lora_alpha": 8}', 'adapter_config.json.r'));
  test('r = 0', () => fails('{"r": 0, "lora_alpha": 8}', 'adapter_config.json.r'));
  test('r not an integer', () => fails('{"r": 2.5, "lora_alpha": 8}', 'adapter_config.json.r'));
  test('wrong peft_type', () => fails('{"r": 2, "lora_alpha": 8, "peft_type": "IA3"}', 'adapter_config.json.peft_type', 'invalid_format', /LORA/));
  test('rank_pattern value not a number', () => fails('{"r": 2, "lora_alpha": 8, "rank_pattern": {"q": "x"}}', 'adapter_config.json.rank_pattern.q'));
  test('rank_pattern rank not an integer', () => fails('{"r": 2, "lora_alpha": 8, "rank_pattern": {"q": 1.5}}', 'adapter_config.json.rank_pattern.q'));
  test('bad regex key', () => fails('{"r": 2, "lora_alpha": 8, "alpha_pattern": {"(q": 1}}', 'adapter_config.json.alpha_pattern.(q', 'invalid_format', /regular expression/));
  test('DoRA', () => fails('{"r": 2, "lora_alpha": 8, "use_dora": true}', 'adapter_config.json.use_dora', 'invalid_input', /DoRA adapters are not supported/));
  test('label prefixes the message', () => {
    assert.throws(() => parsePeftConfig('{}', 'adapters[1]'), /^WeightsmithError: adapters\[1\]: adapter_config.json.r/);
  });
});
