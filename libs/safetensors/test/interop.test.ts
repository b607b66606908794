/**
 * Compatibility with huggingface/safetensors: byte vectors from the reference's own test suite
 * (`safetensors/src/tensor.rs`), a file laid out by hand exactly as the reference writer lays it
 * out, and — when the Python package happens to be installed — a file written by it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { memorySource, openSafetensors, openSafetensorsFile, serializeSafetensors } from '../src/index.js';
import { concatBytes, f32le, rawFile } from './hand-built.js';

describe('reference test vectors', () => {
  // Header bytes below are the reference's expected output, transcribed from its tests.
  const ascii = (s: string) => Array.from(Buffer.from(s, 'latin1'));

  test('test_serialization: "attn.0" F32 [1,2,3], no padding needed', async () => {
    const expected = new Uint8Array([
      64, 0, 0, 0, 0, 0, 0, 0,
      ...ascii('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'),
      0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ]);
    const written = await serializeSafetensors([{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) }]);
    assert.deepEqual(written, expected);
    const t = await (await openSafetensors(memorySource(expected))).read('attn.0');
    assert.deepEqual(Array.from(t.data as Float32Array), [0, 1, 2, 3, 4, 5]);
  });

  test('test_serialization_forced_alignement: "attn0" F32 [1,1,2,3], 7 spaces of padding', async () => {
    const expected = new Uint8Array([
      72, 0, 0, 0, 0, 0, 0, 0,
      ...ascii('{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}'),
      32, 32, 32, 32, 32, 32, 32,
      0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ]);
    const written = await serializeSafetensors([{ name: 'attn0', dtype: 'F32', shape: [1, 1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) }]);
    assert.deepEqual(written, expected);
    const file = await openSafetensors(memorySource(expected));
    assert.equal(file.get('attn0').offset, 80);
  });

  test('test_empty: no tensors, with and without metadata', async () => {
    const empty = new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    assert.deepEqual(await serializeSafetensors([]), empty);
    assert.deepEqual((await openSafetensors(memorySource(empty))).tensors, []);

    const withMeta = new Uint8Array([40, 0, 0, 0, 0, 0, 0, 0, ...ascii('{"__metadata__":{"framework":"pt"}}'), 32, 32, 32, 32, 32]);
    assert.deepEqual(await serializeSafetensors([], { framework: 'pt' }), withMeta);
    assert.deepEqual((await openSafetensors(memorySource(withMeta))).metadata, { framework: 'pt' });
  });
});

describe('reference writer layout, built by hand', () => {
  /*
   * What the reference writer produces for these tensors: `__metadata__` first, then tensors
   * sorted by dtype alignment descending (I64 > F32 > BF16 > BOOL) then by name, offsets
   * contiguous from 0, compact JSON, spaces up to a multiple of 8.
   *   step   I64  []     7            -> [0, 8)
   *   a.bias F32  [2]    [0.5, -0.5]  -> [8, 16)
   *   b.w    F32  [2,2]  [1,-2,3.5,4] -> [16, 32)
   *   emb    BF16 [2]    bits 3F80 C0A0 (1.0, -5.0) -> [32, 36)
   *   mask   BOOL [3]    [1,0,1]      -> [36, 39)
   */
  const header =
    '{"__metadata__":{"format":"pt"},' +
    '"step":{"dtype":"I64","shape":[],"data_offsets":[0,8]},' +
    '"a.bias":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},' +
    '"b.w":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]},' +
    '"emb":{"dtype":"BF16","shape":[2],"data_offsets":[32,36]},' +
    '"mask":{"dtype":"BOOL","shape":[3],"data_offsets":[36,39]}}';

  function handBuilt(): Uint8Array {
    const step = new Uint8Array(8);
    new DataView(step.buffer).setBigInt64(0, 7n, true);
    const emb = new Uint8Array(4);
    new DataView(emb.buffer).setUint16(0, 0x3f80, true);
    new DataView(emb.buffer).setUint16(2, 0xc0a0, true);
    const data = concatBytes(step, f32le([0.5, -0.5]), f32le([1, -2, 3.5, 4]), emb, new Uint8Array([1, 0, 1]));
    return rawFile(header, { pad: true, data });
  }

  test('the reader accepts it and reads every tensor', async () => {
    const bytes = handBuilt();
    assert.equal((bytes.byteLength - 39) % 8, 0, 'data starts on a multiple of 8');
    const file = await openSafetensors(memorySource(bytes));
    assert.deepEqual(file.metadata, { format: 'pt' });
    assert.deepEqual(file.tensors.map((t) => t.name), ['step', 'a.bias', 'b.w', 'emb', 'mask']);
    assert.deepEqual(Array.from((await file.read('step')).data as BigInt64Array), [7n]);
    assert.deepEqual(Array.from((await file.read('b.w')).data as Float32Array), [1, -2, 3.5, 4]);
    assert.deepEqual(Array.from((await file.read('emb')).data as Uint16Array), [0x3f80, 0xc0a0]);
    assert.deepEqual(Array.from((await file.read('mask')).data as Uint8Array), [1, 0, 1]);
  });

  test('the writer produces the same bytes from the tensors in any order', async () => {
    const written = await serializeSafetensors(
      [
        { name: 'mask', dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
        { name: 'emb', dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xc0a0]) },
        { name: 'b.w', dtype: 'F32', shape: [2, 2], data: new Float32Array([1, -2, 3.5, 4]) },
        { name: 'step', dtype: 'I64', shape: [], data: new BigInt64Array([7n]) },
        { name: 'a.bias', dtype: 'F32', shape: [2], data: new Float32Array([0.5, -0.5]) },
      ],
      { format: 'pt' },
    );
    assert.deepEqual(written, handBuilt());
  });
});

describe('official Python implementation', () => {
  const probe = spawnSync('python3', ['-c', 'import safetensors, numpy'], { encoding: 'utf8' });
  const available = probe.status === 0;

  test('reads a file written by safetensors.numpy.save_file', { skip: available ? false : 'python3 cannot import safetensors and numpy (not installed); interop covered by the hand-built reference layout' }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ws-safetensors-py-'));
    try {
      const path = join(dir, 'py.safetensors');
      const script = [
        'import sys, numpy as np',
        'from safetensors.numpy import save_file',
        'save_file({',
        '  "w": np.array([[1.5, -2.0], [0.25, 8.0]], dtype=np.float32),',
        '  "ids": np.array([3, -4, 5], dtype=np.int64),',
        '  "h": np.array([1.0, -2.0], dtype=np.float16),',
        '  "flag": np.array([True, False]),',
        '  "empty": np.zeros((0,), dtype=np.uint8),',
        '}, sys.argv[1], metadata={"format": "np"})',
      ].join('\n');
      const run = spawnSync('python3', ['-c', script, path], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      const file = await openSafetensorsFile(path);
      try {
        assert.deepEqual(file.metadata, { format: 'np' });
        assert.deepEqual(Array.from((await file.read('w')).data as Float32Array), [1.5, -2, 0.25, 8]);
        assert.deepEqual((await file.read('w')).shape, [2, 2]);
        assert.deepEqual(Array.from((await file.read('ids')).data as BigInt64Array), [3n, -4n, 5n]);
        assert.deepEqual(Array.from((await file.read('h')).data as Uint16Array), [0x3c00, 0xc000]);
        assert.deepEqual(Array.from((await file.read('flag')).data as Uint8Array), [1, 0]);
        assert.equal((await file.read('empty')).data.byteLength, 0);
      } finally {
        await file.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
