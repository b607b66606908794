import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClipTextEncoder, CLIP_BOS, CLIP_EOS, DEFAULT_TINY_CLIP_CORPUS, writeTinyClipFolder, type TinyClipFolder } from '../src/index.js';
import { tempDir } from './helpers/temp-dir.js';

/**
 * The generated tokenizer, read back through transformers.js: it must tokenize the way CLIP's
 * tokenizer is specified to (lowercase, whitespace-insensitive, words + '</w>', byte-level
 * pieces for anything unknown), with expectations written out by hand.
 */
describe('tiny CLIP fixture: tokenizer through transformers.js', () => {
  let fixture: TinyClipFolder;
  let encoder: ClipTextEncoder;
  let idToToken: Map<number, string>;

  before(async () => {
    fixture = await writeTinyClipFolder(await tempDir('tok'), { seed: 7 });
    encoder = await ClipTextEncoder.fromFolder(fixture.dir);
    idToToken = new Map([...fixture.tokenizer.vocab].map(([t, id]) => [id, t]));
  });
  after(() => encoder.close());

  const tokens = (text: string): string[] => encoder.tokenize([text])[0]!.map((id) => idToToken.get(id)!);

  test('end-of-text has the highest id and start-of-text the next (CLIP argmax pooling relies on it)', () => {
    const v = fixture.tokenizer.vocabSize;
    assert.equal(fixture.tokenizer.vocab.get(CLIP_EOS), v - 1);
    assert.equal(fixture.tokenizer.vocab.get(CLIP_BOS), v - 2);
  });

  test('known words are single tokens with the </w> suffix; punctuation splits words', () => {
    assert.deepEqual(tokens('A photo of a T-shirt/top'), [
      '<|startoftext|>', 'a</w>', 'photo</w>', 'of</w>', 'a</w>', 't</w>', '-</w>', 'shirt</w>', '/</w>', 'top</w>', '<|endoftext|>',
    ]);
    assert.deepEqual(tokens('ankle boot'), ['<|startoftext|>', 'ankle</w>', 'boot</w>', '<|endoftext|>']);
  });

  test('every word of the corpus is one token', () => {
    const words = new Set(DEFAULT_TINY_CLIP_CORPUS.join(' ').toLowerCase().match(/\p{L}+/gu));
    for (const w of words) assert.deepEqual(tokens(w), ['<|startoftext|>', `${w}</w>`, '<|endoftext|>'], w);
  });

  test('case and whitespace do not matter', () => {
    assert.deepEqual(encoder.tokenize(['  A   PHOTO\tof a\nDRESS ']), encoder.tokenize(['a photo of a dress']));
  });

  test('an unknown word is spelled with byte-level pieces, never an unknown token', () => {
    const t = tokens('zebra');
    assert.equal(t[0], CLIP_BOS);
    assert.equal(t.at(-1), CLIP_EOS);
    assert.equal(t.slice(1, -1).join(''), 'zebra</w>');
    assert.ok(t.length > 3, 'zebra is not in the corpus, so it needs several pieces');
  });

  test('non-Latin text maps to its UTF-8 bytes in the byte-level alphabet', () => {
    // 日 = E6 97 A5, 本 = E6 9C AC; printable Latin-1 bytes stand for themselves, the others are
    // shifted to U+0100 + their rank among non-printable bytes (0x97 → U+0139, 0x9C → U+013E).
    assert.equal(tokens('日本').slice(1, -1).join(''), '\u00e6\u0139\u00a5\u00e6\u013e\u00ac</w>');
  });
});

describe('tiny CLIP fixture: generator', () => {
  const files = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'onnx/text_model.onnx'];

  test('same seed, same bytes in every file; another seed changes only the weights', async () => {
    const a = await writeTinyClipFolder(await tempDir('gen-a'), { seed: 3, layers: 1 });
    const b = await writeTinyClipFolder(await tempDir('gen-b'), { seed: 3, layers: 1 });
    const c = await writeTinyClipFolder(await tempDir('gen-c'), { seed: 4, layers: 1 });
    assert.deepEqual(a.files, files);
    for (const f of files) {
      const bytesA = await readFile(join(a.dir, f));
      assert.ok(bytesA.equals(await readFile(join(b.dir, f))), `${f} differs between two runs with one seed`);
      const bytesC = await readFile(join(c.dir, f));
      if (f === 'onnx/text_model.onnx') assert.ok(!bytesA.equals(bytesC), 'a new seed must give new weights');
      else if (f !== 'config.json') assert.ok(bytesA.equals(bytesC), `${f} should not depend on the seed`);
    }
  });

  test('config.json describes the model in Hugging Face CLIP terms', async () => {
    const f = await writeTinyClipFolder(await tempDir('cfg'), { seed: 1, hidden: 24, heads: 3, layers: 1, projectionDim: 8, maxPositions: 12 });
    const config = JSON.parse(await readFile(join(f.dir, 'config.json'), 'utf8'));
    assert.equal(config.model_type, 'clip');
    assert.equal(config.projection_dim, 8);
    assert.deepEqual(
      [config.text_config.hidden_size, config.text_config.num_attention_heads, config.text_config.num_hidden_layers,
        config.text_config.intermediate_size, config.text_config.max_position_embeddings, config.text_config.hidden_act,
        config.text_config.vocab_size],
      [24, 3, 1, 96, 12, 'quick_gelu', f.tokenizer.vocabSize],
    );
    const tokCfg = JSON.parse(await readFile(join(f.dir, 'tokenizer_config.json'), 'utf8'));
    assert.equal(tokCfg.model_max_length, 12);
    assert.equal(tokCfg.tokenizer_class, 'CLIPTokenizer');
  });

  test('rejects heads that do not divide hidden', async () => {
    await assert.rejects(writeTinyClipFolder(await tempDir('bad'), { seed: 1, hidden: 10, heads: 3 }), { code: 'invalid_input', field: 'heads' });
  });
});
