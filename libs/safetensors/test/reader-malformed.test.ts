import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode } from '@weightsmith/core';
import { memorySource, openSafetensors, type ByteSource } from '../src/index.js';
import { f32le, rawFile, rejectsWith } from './hand-built.js';

const { InvalidFormat, TooLarge } = ErrorCode;

interface Case {
  title: string;
  bytes: Uint8Array;
  code: ErrorCode;
  text: string;
  field?: string;
  maxHeaderBytes?: number;
}

const F32_2 = '{"dtype":"F32","shape":[2],"data_offsets":[0,8]}';
const eight = new Uint8Array(8);

const cases: Case[] = [
  {
    title: 'file shorter than the 8-byte length prefix',
    bytes: new Uint8Array([8, 0, 0, 0, 0]),
    code: InvalidFormat,
    text: 'file is 5 bytes, shorter than the 8-byte header length prefix',
  },
  {
    title: 'header length above the default 100 MB cap',
    bytes: rawFile('{}', { declaredLength: 100_000_001n }),
    code: TooLarge,
    text: 'header length 100000001 exceeds the cap of 100000000 bytes',
  },
  {
    title: 'header length near 2^64 (no overflow in the check)',
    bytes: rawFile('{}', { declaredLength: 0xffff_ffff_ffff_fff0n }),
    code: TooLarge,
    text: 'header length 18446744073709551600 exceeds the cap',
  },
  {
    title: 'header length above a configured cap',
    bytes: rawFile('{}', { pad: true }),
    maxHeaderBytes: 4,
    code: TooLarge,
    text: 'header length 8 exceeds the cap of 4 bytes',
  },
  {
    title: 'header length beyond the end of the file',
    bytes: rawFile('{}  ', { declaredLength: 64n }),
    code: InvalidFormat,
    text: 'header length 64 exceeds the 4 bytes after the length prefix',
  },
  {
    title: 'header is not valid UTF-8',
    bytes: rawFile(new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d])), // {"\xc3(":1}
    code: InvalidFormat,
    text: 'not valid UTF-8',
  },
  {
    title: 'header is not valid JSON',
    bytes: rawFile('{"w":{"dtype":"F32",', { pad: true }),
    code: InvalidFormat,
    text: 'not valid JSON',
  },
  {
    title: 'header JSON is not an object',
    bytes: rawFile('[1,2,3]', { pad: true }),
    code: InvalidFormat,
    text: 'must be a JSON object, got an array',
  },
  {
    title: 'header does not start with {',
    bytes: rawFile('  {}', { pad: true }),
    code: InvalidFormat,
    text: "must start with '{', found byte 0x20",
  },
  {
    title: '__metadata__ is not an object',
    bytes: rawFile('{"__metadata__":["pt"]}', { pad: true }),
    code: InvalidFormat,
    text: '__metadata__ must be an object of strings, got an array',
    field: '__metadata__',
  },
  {
    title: '__metadata__ has a non-string value',
    bytes: rawFile('{"__metadata__":{"format":"pt","epoch":3}}', { pad: true }),
    code: InvalidFormat,
    text: '__metadata__["epoch"] must be a string, got a number',
    field: '__metadata__.epoch',
  },
  {
    title: 'tensor entry is not an object',
    bytes: rawFile('{"w":[0,8]}', { pad: true }),
    code: InvalidFormat,
    text: 'tensor "w": entry must be an object with dtype, shape and data_offsets, got an array',
    field: 'w',
  },
  {
    title: 'tensor entry misses a field',
    bytes: rawFile('{"w":{"dtype":"F32","shape":[2]}}', { pad: true }),
    code: InvalidFormat,
    text: 'tensor "w": entry is missing data_offsets',
    field: 'w',
  },
  {
    title: 'tensor entry has an extra field',
    bytes: rawFile('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"offsets":[0,8]}}', { pad: true, data: eight }),
    code: InvalidFormat,
    text: 'tensor "w": entry has unknown field(s) offsets',
    field: 'w',
  },
  {
    title: 'unknown dtype',
    bytes: rawFile('{"w":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', { pad: true, data: new Uint8Array(16) }),
    code: InvalidFormat,
    text: 'tensor "w": unknown dtype "F128"',
    field: 'w',
  },
  {
    title: 'lower-case dtype (the names are case-sensitive)',
    bytes: rawFile('{"w":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}', { pad: true, data: eight }),
    code: InvalidFormat,
    text: 'tensor "w": unknown dtype "f32"',
  },
  {
    title: 'negative dimension in shape',
    bytes: rawFile('{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', { pad: true, data: eight }),
    code: InvalidFormat,
    text: 'tensor "w": shape must be an array of non-negative safe integers, got [-2]',
  },
  {
    title: 'fractional dimension in shape',
    bytes: rawFile('{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,10]}}', { pad: true, data: new Uint8Array(10) }),
    code: InvalidFormat,
    text: 'tensor "w": shape must be an array of non-negative safe integers, got [2.5]',
  },
  {
    title: 'shape is not an array',
    bytes: rawFile('{"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}', { pad: true, data: eight }),
    code: InvalidFormat,
    text: 'tensor "w": shape must be an array of non-negative safe integers, got 2',
  },
  {
    title: 'element count overflows',
    // 2^31 · 2^31 · 2^31 = 2^93, far past 2^53; the reference fails the same way (checked_mul).
    bytes: rawFile('{"w":{"dtype":"U8","shape":[2147483648,2147483648,2147483648],"data_offsets":[0,0]}}', { pad: true }),
    code: InvalidFormat,
    text: 'tensor "w": element count of shape [2147483648, 2147483648, 2147483648] overflows',
  },
  {
    title: 'data_offsets with one number',
    bytes: rawFile('{"w":{"dtype":"F32","shape":[2],"data_offsets":[8]}}', { pad: true, data: eight }),
    code: InvalidFormat,
    text: 'tensor "w": data_offsets must be two non-negative safe integers [begin, end], got [8]',
  },
  {
    title: 'negative data offset',
    bytes: rawFile('{"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}', { pad: true, data: eight }),
    code: InvalidFormat,
    text: 'tensor "w": data_offsets must be two non-negative safe integers [begin, end], got [-8,0]',
  },
  {
    title: 'data_offsets begin after end',
    bytes: rawFile('{"w":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}}', { pad: true, data: eight }),
    code: InvalidFormat,
    text: 'tensor "w": data_offsets [8, 0] has begin > end',
  },
  {
    title: 'byte span differs from numel × dtype size',
    bytes: rawFile('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', { pad: true, data: eight }),
    code: InvalidFormat,
    text: 'tensor "w": data_offsets [0, 8] span 8 bytes but F32 shape [3] needs 12 bytes',
  },
  {
    title: 'sub-byte tensor that does not fill whole bytes',
    bytes: rawFile('{"q":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}}', { pad: true, data: new Uint8Array(1) }),
    code: InvalidFormat,
    text: 'tensor "q": 3 elements of F4 (4 bits each) do not fill whole bytes',
  },
  {
    title: 'first tensor does not begin at 0',
    bytes: rawFile('{"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', { pad: true, data: new Uint8Array(12) }),
    code: InvalidFormat,
    text: 'tensor "w": data_offsets begin at 4 but the first tensor must begin at 0',
  },
  {
    title: 'gap between tensors',
    bytes: rawFile(`{"a":${F32_2},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}`, {
      pad: true,
      data: new Uint8Array(20),
    }),
    code: InvalidFormat,
    text: 'tensor "b": data_offsets begin at 12 but the previous tensor "a" ends at 8: offsets must be contiguous (gap of 4 bytes)',
    field: 'b',
  },
  {
    title: 'overlapping tensors',
    bytes: rawFile(`{"a":${F32_2},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, {
      pad: true,
      data: new Uint8Array(12),
    }),
    code: InvalidFormat,
    text: 'tensor "b": data_offsets [4, 12] overlap tensor "a" [0, 8]',
    field: 'b',
  },
  {
    title: 'two tensors claiming the same bytes',
    bytes: rawFile(`{"a":${F32_2},"b":${F32_2}}`, { pad: true, data: eight }),
    code: InvalidFormat,
    text: 'tensor "b": data_offsets [0, 8] overlap tensor "a" [0, 8]',
  },
  {
    title: 'trailing bytes after the last tensor',
    bytes: rawFile(`{"w":${F32_2}}`, { pad: true, data: new Uint8Array(12) }),
    code: InvalidFormat,
    text: 'data buffer is 12 bytes but the tensors cover only 8: 4 trailing bytes',
  },
  {
    title: 'bytes after a header that declares no tensors',
    bytes: rawFile('{}', { pad: true, data: new Uint8Array(3) }),
    code: InvalidFormat,
    text: 'data buffer is 3 bytes but the tensors cover only 0: 3 trailing bytes',
  },
  {
    title: 'truncated data buffer',
    bytes: rawFile(`{"w":${F32_2}}`, { pad: true, data: f32le([1.5]) }),
    code: InvalidFormat,
    text: 'tensor "w": data ends at 8 but the data buffer holds only 4 bytes (file truncated)',
  },
  {
    title: 'duplicate tensor name (JSON.parse would keep only the last)',
    bytes: rawFile(`{"w":${F32_2},"w":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}`, { pad: true, data: eight }),
    code: InvalidFormat,
    text: 'tensor "w": appears more than once in the header (duplicate tensor name)',
    field: 'w',
  },
  {
    title: 'duplicate tensor name spelled with a JSON escape',
    bytes: rawFile(`{"w":${F32_2},"\\u0077":${F32_2}}`, { pad: true, data: eight }),
    code: InvalidFormat,
    text: 'tensor "w": appears more than once',
  },
  {
    title: 'duplicate field inside a tensor entry',
    bytes: rawFile('{"w":{"dtype":"F32","dtype":"U8","shape":[8],"data_offsets":[0,8]}}', { pad: true, data: eight }),
    code: InvalidFormat,
    text: 'tensor "w" repeats the key "dtype"',
    field: 'w',
  },
  {
    title: 'duplicate __metadata__ key',
    bytes: rawFile('{"__metadata__":{"k":"a","k":"b"}}', { pad: true }),
    code: InvalidFormat,
    text: '__metadata__ repeats the key "k"',
  },
];

describe('openSafetensors rejects malformed files', () => {
  test('covers at least 15 distinct malformations', () => {
    assert.ok(cases.length >= 15);
  });
  for (const c of cases) {
    test(c.title, async () => {
      const options = c.maxHeaderBytes === undefined ? {} : { maxHeaderBytes: c.maxHeaderBytes };
      await rejectsWith(openSafetensors(memorySource(c.bytes), options), c.code, c.text, c.field);
    });
  }
});

/** A real source that records the ranges the reader asks for. */
function recording(inner: ByteSource): { source: ByteSource; reads: Array<[number, number]> } {
  const reads: Array<[number, number]> = [];
  return {
    reads,
    source: {
      size: inner.size,
      read(offset, length) {
        reads.push([offset, length]);
        return inner.read(offset, length);
      },
      stream: (offset, length) => inner.stream(offset, length),
    },
  };
}

describe('validation happens before tensor memory is touched', () => {
  test('an oversized header length is refused after reading only the prefix read', async () => {
    // 70 000 bytes, more than one prefetch: the reader must not go on to fetch the declared header.
    const bytes = new Uint8Array(70_000);
    new DataView(bytes.buffer).setBigUint64(0, 200_000_000n, true);
    const { source, reads } = recording(memorySource(bytes));
    await rejectsWith(openSafetensors(source), ErrorCode.TooLarge, 'exceeds the cap');
    assert.deepEqual(reads, [[0, 65_536]]);
  });

  test('a header whose tensor overruns the file fails without reading any data bytes', async () => {
    // The header promises a 4 GB tensor; the file holds 8 data bytes.
    const header = '{"big":{"dtype":"F32","shape":[1073741824],"data_offsets":[0,4294967296]}}';
    const bytes = rawFile(header, { pad: true, data: new Uint8Array(8) });
    const { source, reads } = recording(memorySource(bytes));
    await rejectsWith(openSafetensors(source), ErrorCode.InvalidFormat, 'tensor "big": data ends at 4294967296');
    // One read: prefix and header together (both fit in the prefetch); no read at the data offset.
    assert.equal(reads.length, 1);
  });

  test('a header longer than the prefetch is read in a second, exact read', async () => {
    const name = 'x'.repeat(70_000);
    const header = `{"${name}":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`;
    const bytes = rawFile(header, { data: new Uint8Array([7, 9]) });
    const { source, reads } = recording(memorySource(bytes));
    const file = await openSafetensors(source);
    assert.deepEqual(reads, [
      [0, 65_536],
      [8, header.length],
    ]);
    assert.deepEqual(file.tensors.map((t) => t.name), [name]);
  });
});
