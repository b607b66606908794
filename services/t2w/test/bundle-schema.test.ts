import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isWeightsmithError } from '@weightsmith/core';
import { bundleManifestSchema, parseBundleManifest } from '../src/bundle/bundle-schema.js';

/** A valid manifest written out by hand: f=4, h=2, e=3 → P = 8 + 2 + 6 + 3 = 19. */
function valid(): Record<string, any> {
  return {
    formatVersion: 1,
    name: 'head-fmnist',
    version: '1.0.0',
    description: 'test',
    target: {
      layout: [
        { name: 'fc1.weight', shape: [2, 4] },
        { name: 'fc1.bias', shape: [2] },
        { name: 'fc2.weight', shape: [3, 2] },
        { name: 'fc2.bias', shape: [3] },
      ],
      architecture: { type: 'mlp-gelu-cosine-head', f: 4, h: 2, e: 3, tau: 10 },
    },
    blockSize: 4,
    scale: 1.646,
    diffusion: { timesteps: 1000, betaSchedule: 'linear', betaStart: 1e-4, betaEnd: 0.02, prediction: 'x0', condDropout: 0.1, nullCond: 'zeros' },
    denoiser: {
      file: 'denoiser.onnx',
      sha256: 'a'.repeat(64),
      inputs: { x: 'x', t: 't', cond: 'cond', tDtype: 'float32' },
      output: 'x0',
      parameterCount: 19,
      condDim: 3,
      width: 8,
      layers: 2,
      heads: 2,
    },
    text: { encoder: 'text', promptTemplate: 'a photo of a {class}', embeddingDim: 3 },
    classes: ['cat', 'dog'],
    requireKnownClasses: true,
    evaluation: { backbone: 'backbone.onnx', data: 'eval.safetensors', classes: ['cat', 'dog'] },
    provenance: { trainer: 't2w-train 0.1', seed: 1, created: '2025-06-01T12:00:00Z', dataset: 'fashion-mnist', extra: 'kept' },
  };
}

/** Asserts the manifest is rejected with an issue at exactly `field`. */
function rejects(mutate: (m: Record<string, any>) => void, field: string): void {
  const m = valid();
  mutate(m);
  assert.throws(
    () => parseBundleManifest(m, 'test-bundle'),
    (e) => {
      assert.ok(isWeightsmithError(e, 'invalid_format'), String(e));
      assert.ok(e.issues.some((i) => i.field === field), `expected an issue at ${field}, got ${JSON.stringify(e.issues)}`);
      assert.match(e.message, /bundle test-bundle/);
      return true;
    },
  );
}

describe('bundle.json schema', () => {
  test('accepts a complete manifest and keeps provenance extras', () => {
    const m = parseBundleManifest(valid(), 'x');
    assert.equal(m.denoiser.parameterCount, 19);
    assert.equal(m.provenance['extra'], 'kept');
  });

  test('fills defaults: description, requireKnownClasses, denoiser file and input names', () => {
    const v = valid();
    delete v.description;
    delete v.requireKnownClasses;
    delete v.evaluation;
    delete v.denoiser.file;
    v.denoiser.inputs = {};
    const m = bundleManifestSchema.parse(v);
    assert.equal(m.description, '');
    assert.equal(m.requireKnownClasses, false);
    assert.equal(m.denoiser.file, 'denoiser.onnx');
    assert.deepEqual(m.denoiser.inputs, { x: 'x', t: 't', cond: 'cond', tDtype: 'float32' });
  });

  test('accepts another architecture type with its own fields and any layout', () => {
    const v = valid();
    v.target.architecture = { type: 'linear-probe', classes: 2 };
    v.target.layout = [{ name: 'w', shape: [19] }];
    assert.equal(parseBundleManifest(v, 'x').target.architecture.type, 'linear-probe');
  });

  test('rejects each rule at the offending field', () => {
    rejects((m) => (m.formatVersion = 2), 'bundle.json.formatVersion');
    rejects((m) => (m.name = 'Head FMNIST'), 'bundle.json.name');
    rejects((m) => (m.name = '-head'), 'bundle.json.name');
    rejects((m) => (m.denoiser.parameterCount = 20), 'bundle.json.denoiser.parameterCount');
    rejects((m) => (m.blockSize = 0), 'bundle.json.blockSize');
    rejects((m) => (m.blockSize = 1.5), 'bundle.json.blockSize');
    rejects((m) => (m.scale = 0), 'bundle.json.scale');
    rejects((m) => (m.diffusion.betaStart = 0), 'bundle.json.diffusion.betaStart');
    rejects((m) => (m.diffusion.betaEnd = 1), 'bundle.json.diffusion.betaEnd');
    rejects((m) => Object.assign(m.diffusion, { betaStart: 0.02, betaEnd: 0.01 }), 'bundle.json.diffusion.betaEnd');
    rejects((m) => (m.diffusion.timesteps = 0), 'bundle.json.diffusion.timesteps');
    rejects((m) => (m.diffusion.betaSchedule = 'cosine'), 'bundle.json.diffusion.betaSchedule');
    rejects((m) => (m.diffusion.prediction = 'score'), 'bundle.json.diffusion.prediction');
    rejects((m) => (m.diffusion.condDropout = 1), 'bundle.json.diffusion.condDropout');
    rejects((m) => (m.target.layout[2].name = 'fc1.weight'), 'bundle.json.target.layout.2.name');
    rejects((m) => (m.target.layout[0].shape = [2, 0]), 'bundle.json.target.layout.0.shape.1');
    rejects((m) => m.classes.push('cat'), 'bundle.json.classes.2');
    rejects((m) => (m.classes = []), 'bundle.json.classes');
    rejects((m) => (m.evaluation.classes = ['cat', 'cat']), 'bundle.json.evaluation.classes.1');
    rejects((m) => (m.text.promptTemplate = 'a photo of a class'), 'bundle.json.text.promptTemplate');
    rejects((m) => (m.text.encoder = '../other'), 'bundle.json.text.encoder');
    rejects((m) => (m.text.encoder = '/abs/clip'), 'bundle.json.text.encoder');
    rejects((m) => (m.denoiser.file = '../denoiser.onnx'), 'bundle.json.denoiser.file');
    rejects((m) => (m.denoiser.sha256 = 'A'.repeat(64)), 'bundle.json.denoiser.sha256');
    rejects((m) => (m.denoiser.inputs.tDtype = 'int32'), 'bundle.json.denoiser.inputs.tDtype');
    rejects((m) => (m.denoiser.inputs.cond = 'x'), 'bundle.json.denoiser.inputs.cond');
    rejects((m) => (m.denoiser.output = 't'), 'bundle.json.denoiser.output');
    rejects((m) => (m.denoiser.heads = 3), 'bundle.json.denoiser.heads');
    rejects((m) => Object.assign(m.denoiser, { condDim: 4 }), 'bundle.json.denoiser.condDim');
    rejects((m) => (m.target.architecture.e = 4), 'bundle.json.target.architecture.e');
    rejects((m) => (m.target.layout[0].shape = [4, 2]), 'bundle.json.target.layout');
    rejects((m) => delete m.target.architecture.tau, 'bundle.json.target.architecture.tau');
    rejects((m) => (m.provenance.created = 'yesterday'), 'bundle.json.provenance.created');
    rejects((m) => delete m.provenance.trainer, 'bundle.json.provenance.trainer');
    rejects((m) => (m.unknownField = 1), 'bundle.json');
  });
});
