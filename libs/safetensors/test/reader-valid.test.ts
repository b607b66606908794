import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ErrorCode } from '@weightsmith/core';
import type { ObjectStore } from '@weightsmith/store';
import {
  memorySource,
  openFileSource,
  openSafetensors,
  openSafetensorsFile,
  openSafetensorsObject,
  type SafetensorsFile,
} from '../src/index.js';
import { concatBytes, f32le, rawFile, rejectsWith } from './hand-built.js';

async function collect(stream: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

/** {"w": F32 [1.5, -2]} with metadata, bytes written by hand. */
function f32File(): Uint8Array {
  return rawFile('{"__metadata__":{"format":"pt","note":"hand-built"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', {
    pad: true,
    data: f32le([1.5, -2]),
  });
}

/**
 * Zero-size tensors of several dtypes (all at data offset 0) and scalars (shape []), entries in
 * no particular order. Scalar values: I64 −5, F16 1.0 (bits 0x3C00), BF16 −2.0 (bits 0xC000),
 * BOOL true, U8 200.
 */
function zeroAndScalarFile(): Uint8Array {
  const header =
    '{"s_u8":{"dtype":"U8","shape":[],"data_offsets":[13,14]},' +
    '"z_f16":{"dtype":"F16","shape":[0],"data_offsets":[0,0]},' +
    '"s_i64":{"dtype":"I64","shape":[],"data_offsets":[0,8]},' +
    '"z_bf16":{"dtype":"BF16","shape":[0],"data_offsets":[0,0]},' +
    '"z_i64":{"dtype":"I64","shape":[0],"data_offsets":[0,0]},' +
    '"s_f16":{"dtype":"F16","shape":[],"data_offsets":[8,10]},' +
    '"z_bool":{"dtype":"BOOL","shape":[0],"data_offsets":[0,0]},' +
    '"s_bf16":{"dtype":"BF16","shape":[],"data_offsets":[10,12]},' +
    '"z_u8":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},' +
    '"s_bool":{"dtype":"BOOL","shape":[],"data_offsets":[12,13]},' +
    '"z_f32_3x0":{"dtype":"F32","shape":[3,0],"data_offsets":[14,14]}}';
  const data = new Uint8Array(14);
  const dv = new DataView(data.buffer);
  dv.setBigInt64(0, -5n, true);
  dv.setUint16(8, 0x3c00, true);
  dv.setUint16(10, 0xc000, true);
  data[12] = 1;
  data[13] = 200;
  return rawFile(header, { pad: true, data });
}

describe('reading hand-built valid files', () => {
  test('F32 [1.5, -2] reads back exactly, with metadata and offsets', async () => {
    const bytes = f32File();
    const file = await openSafetensors(memorySource(bytes));
    assert.deepEqual(file.metadata, { format: 'pt', note: 'hand-built' });
    const headerLength = bytes.byteLength - 8 - 8;
    assert.equal(file.headerLength, headerLength);
    assert.equal(headerLength % 8, 0);
    assert.deepEqual(file.get('w'), {
      name: 'w',
      dtype: 'F32',
      shape: [2],
      dataOffsets: [0, 8],
      byteLength: 8,
      offset: 8 + headerLength,
    });
    const w = await file.read('w');
    assert.equal(w.dtype, 'F32');
    assert.ok(w.data instanceof Float32Array);
    assert.deepEqual(Array.from(w.data), [1.5, -2]);
    assert.deepEqual(w.shape, [2]);
    assert.deepEqual(await file.readBytes('w'), f32le([1.5, -2]));
    assert.deepEqual(await collect(file.stream('w')), f32le([1.5, -2]));
  });

  test('a header padded with spaces and without metadata is accepted', async () => {
    const bytes = rawFile('{"w":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}       ', { data: new Uint8Array([1, 2, 3]) });
    const file = await openSafetensors(memorySource(bytes));
    assert.deepEqual(file.metadata, {});
    assert.deepEqual(Array.from((await file.read('w')).data as Uint8Array), [1, 2, 3]);
  });

  test('an empty file ({} and no data) has no tensors', async () => {
    const file = await openSafetensors(memorySource(rawFile('{}', { pad: true })));
    assert.deepEqual(file.tensors, []);
    assert.deepEqual(file.metadata, {});
  });

  test('zero-size tensors and scalars of F16/BF16/I64/BOOL/U8', async () => {
    const file = await openSafetensors(memorySource(zeroAndScalarFile()));
    // File order is data order; zero-size tensors sharing offset 0 are ordered by name.
    assert.deepEqual(
      file.tensors.map((t) => t.name),
      ['z_bf16', 'z_bool', 'z_f16', 'z_i64', 'z_u8', 's_i64', 's_f16', 's_bf16', 's_bool', 's_u8', 'z_f32_3x0'],
    );
    const expectEmpty = async (name: string, Kind: new (n: number) => ArrayBufferView) => {
      const t = await file.read(name);
      assert.ok(t.data instanceof Kind, `${name} data kind`);
      assert.equal(t.data.byteLength, 0);
    };
    await expectEmpty('z_f16', Uint16Array);
    await expectEmpty('z_bf16', Uint16Array);
    await expectEmpty('z_i64', BigInt64Array);
    await expectEmpty('z_bool', Uint8Array);
    await expectEmpty('z_u8', Uint8Array);
    await expectEmpty('z_f32_3x0', Float32Array);
    assert.deepEqual((await file.read('z_f32_3x0')).shape, [3, 0]);

    const i64 = await file.read('s_i64');
    assert.deepEqual(i64.shape, []);
    assert.ok(i64.data instanceof BigInt64Array);
    assert.deepEqual(Array.from(i64.data), [-5n]);
    const f16 = await file.read('s_f16');
    assert.ok(f16.data instanceof Uint16Array);
    assert.deepEqual(Array.from(f16.data), [0x3c00]);
    assert.deepEqual(Array.from((await file.read('s_bf16')).data as Uint16Array), [0xc000]);
    assert.deepEqual(Array.from((await file.read('s_bool')).data as Uint8Array), [1]);
    assert.deepEqual(Array.from((await file.read('s_u8')).data as Uint8Array), [200]);
  });

  test('iterates tensors in file order, one at a time', async () => {
    const data = concatBytes(f32le([1, 2]), new Uint8Array([5, 6, 7, 8]));
    const bytes = rawFile(
      '{"z":{"dtype":"U8","shape":[2,2],"data_offsets":[8,12]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
      { pad: true, data },
    );
    const file = await openSafetensors(memorySource(bytes));
    const seen: Array<[string, number[]]> = [];
    for await (const t of file) seen.push([t.name, Array.from(t.data as Float32Array | Uint8Array)]);
    assert.deepEqual(seen, [
      ['a', [1, 2]],
      ['z', [5, 6, 7, 8]],
    ]);
  });

  test('read() returns memory the caller owns, aligned for its element type', async () => {
    // The BF16 scalar sits at data offset 10, 2-aligned; I64 at 0. Views must be usable typed arrays
    // and mutating them must not change what a second read returns.
    const file = await openSafetensors(memorySource(zeroAndScalarFile()));
    const first = await file.read('s_i64');
    (first.data as BigInt64Array)[0] = 99n;
    const second = await file.read('s_i64');
    assert.deepEqual(Array.from(second.data as BigInt64Array), [-5n]);
  });

  test('unknown tensor name is not_found', async () => {
    const file = await openSafetensors(memorySource(f32File()));
    assert.equal(file.has('w'), true);
    assert.equal(file.has('v'), false);
    await rejectsWith(file.read('v'), ErrorCode.NotFound, 'tensor "v" is not in this safetensors file', 'v');
  });
});

describe('sources', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ws-safetensors-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function expectSameAsMemory(file: SafetensorsFile, bytes: Uint8Array): Promise<void> {
    const reference = await openSafetensors(memorySource(bytes));
    assert.deepEqual(file.tensors, reference.tensors);
    assert.deepEqual(file.metadata, reference.metadata);
    // One reused buffer, larger than any tensor, filled before each read so stale bytes would show.
    const reused = new Uint8Array(Math.max(8, ...reference.tensors.map((t) => t.byteLength)) + 8);
    for (const info of reference.tensors) {
      assert.deepEqual(await file.readBytes(info.name), await reference.readBytes(info.name), info.name);
      reused.fill(0xab);
      const into = await file.readBytes(info.name, { into: reused });
      assert.equal(into.buffer, reused.buffer, `${info.name}: read into the caller's buffer`);
      assert.deepEqual(into, await reference.readBytes(info.name), `${info.name} into`);
      const tensor = await file.read(info.name, { into: reused });
      assert.deepEqual(tensor.data, (await reference.read(info.name)).data, `${info.name} read into`);
      assert.deepEqual(await collect(file.stream(info.name)), await reference.readBytes(info.name), `${info.name} stream`);
    }
  }

  test('local file: same tensors and bytes as from memory', async () => {
    const bytes = zeroAndScalarFile();
    const path = join(dir, 'scalars.safetensors');
    await writeFile(path, bytes);
    const file = await openSafetensorsFile(path);
    try {
      await expectSameAsMemory(file, bytes);
      const bf16 = await file.read('s_bf16');
      assert.deepEqual(Array.from(bf16.data as Uint16Array), [0xc000]);
    } finally {
      await file.close();
    }
  });

  test('local file streams span several chunks', async () => {
    // 3 MB of U8 so the file source's 1 MiB chunking is exercised; content is position-dependent.
    const n = 3 * 1024 * 1024 + 5;
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i++) data[i] = (i * 31 + 7) & 0xff;
    const bytes = rawFile(`{"big":{"dtype":"U8","shape":[${n}],"data_offsets":[0,${n}]}}`, { pad: true, data });
    const path = join(dir, 'big.safetensors');
    await writeFile(path, bytes);
    const file = await openSafetensorsFile(path);
    try {
      assert.deepEqual(await collect(file.stream('big')), data);
      assert.deepEqual(await file.readBytes('big'), data);
    } finally {
      await file.close();
    }
  });

  test('a file truncated after opening fails reads with invalid_format', async () => {
    const path = join(dir, 'shrinks.safetensors');
    await writeFile(path, f32File());
    const file = await openSafetensors(await openFileSource(path));
    try {
      await truncate(path, 20);
      await rejectsWith(file.read('w'), ErrorCode.InvalidFormat, 'unexpected end of file reading bytes');
      await assert.rejects(collect(file.stream('w')), /unexpected end of file/);
    } finally {
      await file.close();
    }
  });

  test('a target buffer smaller than the tensor is refused before reading', async () => {
    for (const file of [await openSafetensors(memorySource(f32File())), await openSafetensorsFile(join(dir, 'big.safetensors'))]) {
      const name = file.tensors[0]!.name;
      await rejectsWith(file.readBytes(name, { into: new Uint8Array(file.tensors[0]!.byteLength - 1) }), ErrorCode.InvalidInput, 'target buffer holds');
      await file.close();
    }
  });

  test('missing local file is not_found', async () => {
    await rejectsWith(openSafetensorsFile(join(dir, 'nope.safetensors')), ErrorCode.NotFound, 'file not found');
  });

  test('object-store key (FsStore): ranged reads give the same tensors', async (t) => {
    const storeModule = (await import('@weightsmith/store')) as Record<string, unknown>;
    const FsStore = storeModule.FsStore as (new (o: { root: string }) => ObjectStore & { init(): Promise<unknown> }) | undefined;
    if (typeof FsStore !== 'function') {
      t.skip('@weightsmith/store does not export FsStore yet');
      return;
    }
    const store = new FsStore({ root: join(dir, 'store') });
    await store.init();
    const bytes = zeroAndScalarFile();
    await store.put('models/scalars.safetensors', bytes);
    const file = await openSafetensorsObject(store, 'models/scalars.safetensors');
    await expectSameAsMemory(file, bytes);
    await rejectsWith(openSafetensorsObject(store, 'models/missing.safetensors'), ErrorCode.NotFound, '');
    await store.close();
  });
});
