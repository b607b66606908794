import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ErrorCode } from '@weightsmith/core';
import type { ObjectStore } from '@weightsmith/store';
import {
  createSafetensorsStream,
  memorySource,
  openSafetensors,
  openSafetensorsObject,
  putSafetensors,
  serializeSafetensors,
  writeSafetensors,
  type TensorToWrite,
} from '../src/index.js';
import { rejectsWith, throwsWith } from './hand-built.js';

async function collect(stream: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

/** A mix of dtypes, listed deliberately out of the file order. */
function sample(): TensorToWrite[] {
  return [
    { name: 'mask', dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    { name: 'b.weight', dtype: 'F32', shape: [2, 2], data: new Float32Array([1, -2, 3.5, 0.25]) },
    { name: 'half', dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) },
    { name: 'step', dtype: 'I64', shape: [], data: new BigInt64Array([7n]) },
    { name: 'a.bias', dtype: 'F32', shape: [2], data: new Float32Array([0.5, -0.5]) },
    { name: 'ids', dtype: 'I32', shape: [3], data: new Int32Array([-1, 0, 2147483647]) },
    { name: 'u', dtype: 'U8', shape: [1], data: new Uint8Array([255]) },
    { name: 'packed', dtype: 'F4', shape: [4], data: new Uint8Array([0x21, 0x43]) },
    { name: 'c', dtype: 'C64', shape: [1], data: new Float32Array([1, -1]) },
    { name: 'd', dtype: 'F64', shape: [1], data: new Float64Array([Math.PI]) },
    { name: 'bf', dtype: 'BF16', shape: [0], data: new Uint16Array(0) },
    { name: 'u64', dtype: 'U64', shape: [1], data: new BigUint64Array([2n ** 64n - 1n]) },
    { name: 'i8', dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) },
  ];
}

describe('writer output', () => {
  test('round-trips every dtype through the reader', async () => {
    const bytes = await serializeSafetensors(sample(), { format: 'pt', b: 'x' });
    const file = await openSafetensors(memorySource(bytes));
    assert.deepEqual(file.metadata, { b: 'x', format: 'pt' });
    for (const spec of sample()) {
      if (!('data' in spec)) continue;
      const t = await file.read(spec.name);
      assert.equal(t.dtype, spec.dtype);
      assert.deepEqual(t.shape, spec.shape);
      assert.deepEqual(
        Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
        Buffer.from(spec.data.buffer, spec.data.byteOffset, spec.data.byteLength),
        spec.name,
      );
    }
    assert.deepEqual(Array.from((await file.read('d')).data as Float64Array), [Math.PI]);
    assert.deepEqual(Array.from((await file.read('u64')).data as BigUint64Array), [2n ** 64n - 1n]);
  });

  test('order: dtype alignment descending, then name; every tensor aligned to its element size', async () => {
    const bytes = await serializeSafetensors(sample());
    const file = await openSafetensors(memorySource(bytes));
    assert.deepEqual(
      file.tensors.map((t) => `${t.dtype}:${t.name}`),
      // Reference enum order, largest first: U64, I64, F64, C64, F32, I32, BF16, F16, I8, U8, F4, BOOL.
      ['U64:u64', 'I64:step', 'F64:d', 'C64:c', 'F32:a.bias', 'F32:b.weight', 'I32:ids', 'BF16:bf', 'F16:half', 'I8:i8', 'U8:u', 'F4:packed', 'BOOL:mask'],
    );
    assert.equal(file.dataStart % 8, 0);
    const width: Record<string, number> = { U64: 8, I64: 8, F64: 8, C64: 8, F32: 4, I32: 4, BF16: 2, F16: 2 };
    for (const t of file.tensors) assert.equal(t.offset % (width[t.dtype] ?? 1), 0, t.name);
  });

  test('same tensors in any input order give identical bytes', async () => {
    const forward = await serializeSafetensors(sample(), { a: '1', z: '2' });
    const reversed = await serializeSafetensors([...sample()].reverse(), { z: '2', a: '1' });
    assert.deepEqual(reversed, forward);
  });

  test('header is padded with spaces to a multiple of 8 and names sort by UTF-8 bytes', async () => {
    // U+E000 vs U+1F600: UTF-16 code units put the surrogate pair (0xD83D…) first, UTF-8 bytes
    // (0xEE… vs 0xF0…) put U+E000 first, as Rust's String ordering in the reference does.
    const bytes = await serializeSafetensors([
      { name: '\u{1F600}', dtype: 'U8', shape: [1], data: new Uint8Array([1]) },
      { name: '\uE000', dtype: 'U8', shape: [1], data: new Uint8Array([2]) },
    ]);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const text = Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8');
    assert.equal(text.trimEnd(), '{"\uE000":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"\u{1F600}":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}');
    assert.match(text, /} *$/);
    assert.deepEqual(Array.from(bytes.subarray(8 + n)), [2, 1]);
  });

  test('createSafetensorsStream knows the exact size before producing a byte', async () => {
    const s = createSafetensorsStream(sample(), { k: 'v' });
    const bytes = await collect(s.stream);
    assert.equal(s.bytes, bytes.byteLength);
    assert.deepEqual(bytes, await serializeSafetensors(sample(), { k: 'v' }));
    const file = await openSafetensors(memorySource(bytes));
    assert.deepEqual(s.tensors, file.tensors);
    assert.equal(s.headerLength, file.headerLength);
  });

  test('writes into a Writable and ends it', async () => {
    const sink = new PassThrough();
    const collected = collect(sink);
    const result = await writeSafetensors(sink, sample());
    const bytes = await collected;
    assert.equal(result.bytes, bytes.byteLength);
    assert.deepEqual(bytes, await serializeSafetensors(sample()));
  });
});

describe('lazy producers', () => {
  const MB = 1 << 20;

  function producedTensors(log: string[], names: string[]): TensorToWrite[] {
    return names.map((name, i) => ({
      name,
      dtype: 'U8' as const,
      shape: [MB],
      byteLength: MB,
      producer: () => {
        log.push(name);
        return new Uint8Array(MB).fill(i + 1);
      },
    }));
  }

  test('producers run only when the stream is read, at most one tensor ahead', async () => {
    const log: string[] = [];
    const names = ['t0', 't1', 't2', 't3', 't4'];
    const s = createSafetensorsStream(producedTensors(log, names));
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(log, [], 'nothing is produced before the stream is read');

    let position = 0;
    const dataStart = s.bytes - names.length * MB;
    for await (const chunk of s.stream) {
      const buf = chunk as Buffer;
      const end = position + buf.byteLength;
      for (let k = 0; k < names.length; k++) {
        const first = dataStart + k * MB;
        if (first >= position && first < end) {
          // When tensor k's first byte reaches the consumer, at most tensor k+1 may exist too.
          assert.ok(log.length <= k + 2, `tensor ${k} seen with ${log.length} produced`);
          assert.equal(buf[first - position], k + 1);
        }
      }
      position = end;
    }
    assert.deepEqual(log, names);
    assert.equal(position, s.bytes);
  });

  test('a producer may yield its bytes in chunks', async () => {
    const bytes = await serializeSafetensors([
      {
        name: 'w',
        dtype: 'F32',
        shape: [4],
        producer: async function* () {
          yield new Uint8Array(new Float32Array([1, 2]).buffer);
          yield new Uint8Array(0);
          yield new Uint8Array(new Float32Array([3, 4]).buffer);
        },
      },
    ]);
    const t = await (await openSafetensors(memorySource(bytes))).read('w');
    assert.deepEqual(Array.from(t.data as Float32Array), [1, 2, 3, 4]);
  });

  test('a producer giving too few bytes fails with shape_mismatch', async () => {
    await rejectsWith(
      serializeSafetensors([{ name: 'w', dtype: 'F32', shape: [4], producer: () => new Float32Array(3) }]),
      ErrorCode.ShapeMismatch,
      'tensor "w": producer gave 12 bytes, F32 shape [4] needs 16',
    );
  });

  test('a producer giving too many bytes fails as soon as it overshoots', async () => {
    let yielded = 0;
    await rejectsWith(
      serializeSafetensors([
        {
          name: 'w',
          dtype: 'U8',
          shape: [4],
          producer: function* () {
            for (let i = 0; i < 100; i++) {
              yielded++;
              yield new Uint8Array(3);
            }
          },
        },
      ]),
      ErrorCode.ShapeMismatch,
      'tensor "w": producer gave more than 4 bytes',
    );
    assert.equal(yielded, 2);
  });
});

describe('file sink', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ws-safetensors-w-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('writes the same bytes as serializeSafetensors, leaving no temp file', async () => {
    const path = join(dir, 'model.safetensors');
    const result = await writeSafetensors(path, sample(), { format: 'pt' });
    const onDisk = new Uint8Array(await readFile(path));
    assert.deepEqual(onDisk, await serializeSafetensors(sample(), { format: 'pt' }));
    assert.equal(result.bytes, onDisk.byteLength);
    assert.deepEqual(await readdir(dir), ['model.safetensors']);
  });

  test('a failing write keeps the old file and leaves nothing behind', async () => {
    const path = join(dir, 'keep.safetensors');
    await writeFile(path, 'old contents');
    await assert.rejects(
      writeSafetensors(path, [
        { name: 'ok', dtype: 'U8', shape: [2], data: new Uint8Array(2) },
        {
          name: 'boom',
          dtype: 'U8',
          shape: [2],
          producer: () => {
            throw new Error('producer failed');
          },
        },
      ]),
      /producer failed/,
    );
    assert.equal(await readFile(path, 'utf8'), 'old contents');
    assert.deepEqual((await readdir(dir)).filter((f) => f.includes('keep')), ['keep.safetensors']);
  });

  test('a length mismatch deletes the temp file and creates no target', async () => {
    const path = join(dir, 'short.safetensors');
    await rejectsWith(
      writeSafetensors(path, [{ name: 'w', dtype: 'U8', shape: [8], producer: () => new Uint8Array(7) }]),
      ErrorCode.ShapeMismatch,
      'producer gave 7 bytes',
    );
    assert.ok(!(await readdir(dir)).some((f) => f.includes('short')));
  });
});

describe('writer input validation', () => {
  const ok = (): TensorToWrite => ({ name: 'w', dtype: 'F32', shape: [2], data: new Float32Array(2) });
  const cases: Array<{ title: string; tensors: unknown[]; metadata?: unknown; code: ErrorCode; text: string; field?: string }> = [
    { title: 'empty name', tensors: [{ ...ok(), name: '' }], code: ErrorCode.InvalidInput, text: 'tensor name must be a non-empty string', field: 'tensors[0].name' },
    { title: 'reserved name', tensors: [{ ...ok(), name: '__metadata__' }], code: ErrorCode.InvalidInput, text: 'reserved for file metadata' },
    { title: 'lone surrogate in name', tensors: [{ ...ok(), name: 'a\uD800' }], code: ErrorCode.InvalidInput, text: 'lone UTF-16 surrogate' },
    { title: 'duplicate names', tensors: [ok(), ok()], code: ErrorCode.InvalidInput, text: 'tensor name "w" appears more than once', field: 'tensors.w' },
    { title: 'unknown dtype', tensors: [{ ...ok(), dtype: 'F8' }], code: ErrorCode.InvalidInput, text: 'tensor "w": unknown dtype "F8"', field: 'tensors.w.dtype' },
    { title: 'negative dimension', tensors: [{ ...ok(), shape: [-2] }], code: ErrorCode.InvalidInput, text: 'shape must be an array of non-negative integers', field: 'tensors.w.shape' },
    { title: 'data shorter than shape × dtype', tensors: [{ ...ok(), shape: [3] }], code: ErrorCode.ShapeMismatch, text: 'tensor "w": F32 shape [3] needs 12 bytes, data has 8', field: 'tensors.w.data' },
    { title: 'typed array of another width', tensors: [{ ...ok(), shape: [1], data: new Float64Array(1) }], code: ErrorCode.InvalidInput, text: 'F32 data given as Float64Array' },
    { title: 'declared byteLength disagrees', tensors: [{ name: 'w', dtype: 'F32', shape: [2], byteLength: 4, producer: () => new Uint8Array(4) }], code: ErrorCode.ShapeMismatch, text: 'byteLength says 4' },
    { title: 'neither data nor producer', tensors: [{ name: 'w', dtype: 'F32', shape: [2] }], code: ErrorCode.InvalidInput, text: 'give either data or a producer function' },
    { title: 'sub-byte tensor not filling bytes', tensors: [{ name: 'q', dtype: 'F4', shape: [3], data: new Uint8Array(2) }], code: ErrorCode.InvalidInput, text: 'do not fill whole bytes' },
    { title: 'non-string metadata', tensors: [ok()], metadata: { epoch: 3 }, code: ErrorCode.InvalidInput, text: 'metadata "epoch" must be a string', field: 'metadata.epoch' },
    { title: 'metadata not an object', tensors: [ok()], metadata: ['x'], code: ErrorCode.InvalidInput, text: 'metadata must be an object' },
  ];
  for (const c of cases) {
    test(c.title, () => {
      throwsWith(
        () => createSafetensorsStream(c.tensors as TensorToWrite[], c.metadata as Record<string, string>),
        c.code,
        c.text,
        c.field,
      );
    });
  }

  test('a Writable sink is not touched when validation fails', async () => {
    let written = 0;
    const sink = new Writable({
      write(_chunk, _enc, cb) {
        written++;
        cb();
      },
    });
    await rejectsWith(writeSafetensors(sink, [ok(), ok()]), ErrorCode.InvalidInput, 'appears more than once');
    assert.equal(written, 0);
  });
});

describe('object store sink', () => {
  test('putSafetensors streams into FsStore with the exact size', async (t) => {
    const storeModule = (await import('@weightsmith/store')) as Record<string, unknown>;
    const FsStore = storeModule.FsStore as (new (o: { root: string }) => ObjectStore & { init(): Promise<unknown> }) | undefined;
    if (typeof FsStore !== 'function') {
      t.skip('@weightsmith/store does not export FsStore yet');
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'ws-safetensors-s-'));
    try {
      const store = new FsStore({ root: dir });
      await store.init();
      const put = await putSafetensors(store, 'out/model.safetensors', sample(), { format: 'pt' });
      const expected = await serializeSafetensors(sample(), { format: 'pt' });
      assert.equal(put.size, expected.byteLength);
      assert.deepEqual(new Uint8Array(await store.getBytes('out/model.safetensors')), expected);
      const file = await openSafetensorsObject(store, 'out/model.safetensors');
      assert.deepEqual(Array.from((await file.read('b.weight')).data as Float32Array), [1, -2, 3.5, 0.25]);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
