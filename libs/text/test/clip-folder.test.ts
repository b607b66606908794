import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { env as transformersEnv } from '@huggingface/transformers';
import { ClipTextEncoder, inspectClipFolder, writeTinyClipFolder, type TinyClipFolder } from '../src/index.js';
import { tempDir } from './helpers/temp-dir.js';

let fixture: TinyClipFolder;
before(async () => {
  fixture = await writeTinyClipFolder(await tempDir('folder'), { seed: 9, layers: 1 });
});

async function copyOfFixture(label: string): Promise<string> {
  const dir = join(await tempDir(label), 'model');
  await cp(fixture.dir, dir, { recursive: true });
  return dir;
}

describe('checking a model folder before loading', () => {
  for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/text_model.onnx']) {
    test(`a folder without ${file} is invalid_format naming ${file}`, async () => {
      const dir = await copyOfFixture('missing');
      await rm(join(dir, file));
      await assert.rejects(ClipTextEncoder.fromFolder(dir), (err: Error & { code?: string; field?: string }) => {
        assert.equal(err.code, 'invalid_format');
        assert.equal(err.field, file);
        assert.match(err.message, new RegExp(`missing ${file.replace('.', '\\.')}`));
        assert.doesNotMatch(err.message, /tokenizer_class/);
        return true;
      });
    });
  }

  test('special_tokens_map.json is optional (transformers.js does not read it)', async () => {
    const dir = await copyOfFixture('no-stm');
    await rm(join(dir, 'special_tokens_map.json'));
    const enc = await ClipTextEncoder.fromFolder(dir);
    await enc.close();
  });

  test('another dtype looks for its own file name', async () => {
    await assert.rejects(ClipTextEncoder.fromFolder(fixture.dir, { dtype: 'fp16' }), {
      code: 'invalid_format',
      field: 'onnx/text_model_fp16.onnx',
    });
    await assert.rejects(ClipTextEncoder.fromFolder(fixture.dir, { dtype: 'q8' }), { field: 'onnx/text_model_quantized.onnx' });
  });

  test('a config that is not a CLIP text model is rejected naming config.json', async () => {
    const dir = await copyOfFixture('bert');
    await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', hidden_size: 32 }));
    await assert.rejects(ClipTextEncoder.fromFolder(dir), { code: 'invalid_format', field: 'config.json', message: /"bert"/ });
  });

  test('broken JSON is rejected naming the file', async () => {
    const dir = await copyOfFixture('json');
    await writeFile(join(dir, 'tokenizer.json'), '{"model": ');
    await assert.rejects(ClipTextEncoder.fromFolder(dir), { code: 'invalid_format', field: 'tokenizer.json' });
  });

  test('an ONNX file that is not a model fails as invalid_format, not as a crash', async () => {
    const dir = await copyOfFixture('onnx');
    await writeFile(join(dir, 'onnx/text_model.onnx'), 'definitely not protobuf');
    await assert.rejects(ClipTextEncoder.fromFolder(dir), { code: 'invalid_format', message: /could not load CLIP text model/ });
  });

  test('a full CLIP export (vision model, quantized variants, text-only config type) loads unchanged', async () => {
    const dir = await copyOfFixture('full');
    for (const extra of ['onnx/vision_model.onnx', 'onnx/model.onnx', 'onnx/text_model_quantized.onnx', 'preprocessor_config.json']) {
      await writeFile(join(dir, extra), 'unused by the text encoder');
    }
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    config.vision_config = { model_type: 'clip_vision_model', hidden_size: 8, image_size: 32, patch_size: 16 };
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    const info = await inspectClipFolder(dir);
    assert.deepEqual([info.maxTokens, info.projectionDim, info.hiddenSize], [16, 16, 32]);
    const enc = await ClipTextEncoder.fromFolder(dir);
    const ref = await ClipTextEncoder.fromFolder(fixture.dir);
    try {
      const [a] = await enc.encode(['a photo of a coat']);
      const [b] = await ref.encode(['a photo of a coat']);
      assert.deepEqual([...a!], [...b!]);
    } finally {
      await Promise.all([enc.close(), ref.close()]);
    }

    // A text-only config (model_type clip_text_model) carries the same fields at top level.
    const textOnly = { ...config.text_config, model_type: 'clip_text_model', projection_dim: 16 };
    await writeFile(join(dir, 'config.json'), JSON.stringify(textOnly));
    assert.equal((await inspectClipFolder(dir)).projectionDim, 16);
  });
});

describe('remote models are off by default', () => {
  const savedFetch = transformersEnv.fetch;
  const fetched: string[] = [];
  before(() => {
    // A tripwire, not a stand-in: any network attempt by transformers.js is recorded and fails.
    transformersEnv.fetch = async (input: string | URL) => {
      fetched.push(String(input));
      throw new Error('network access in a test');
    };
  });
  after(() => {
    transformersEnv.fetch = savedFetch;
  });

  test('a hub name with no local folder is not_found, with a hint, and nothing is fetched', async () => {
    await assert.rejects(ClipTextEncoder.load('openai/clip-vit-base-patch32'), (err: Error & { code?: string; field?: string }) => {
      assert.equal(err.code, 'not_found');
      assert.equal(err.field, 'source');
      assert.match(err.message, /openai\/clip-vit-base-patch32/);
      assert.match(err.message, /ALLOW_REMOTE_MODELS/);
      return true;
    });
    assert.deepEqual(fetched, []);
  });

  test('a local folder loads through load() without touching the network', async () => {
    const enc = await ClipTextEncoder.load(fixture.dir);
    await enc.encode(['a photo of a bag']);
    await enc.close();
    assert.deepEqual(fetched, []);
    assert.equal(transformersEnv.allowRemoteModels, false, 'a local load switches hub downloads off');
  });
});
