import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import { colourRgb, crc32, dominanceMapPng, encodePng } from '../src/report/png.js';
import { modelColour } from '../src/report/svg.js';

/*
 * The PNG is decoded here by hand from the spec (signature, length/type/data/CRC chunks, IHDR,
 * zlib IDAT with one filter byte per row), checking CRCs with node's own zlib.crc32.
 */
interface Decoded {
  width: number;
  height: number;
  rgba: Uint8Array;
  text: Map<string, string>;
  chunkTypes: string[];
}

function decodePng(png: Buffer): Decoded {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let off = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  const text = new Map<string, string>();
  const chunkTypes: string[] = [];
  while (off < png.length) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    const data = png.subarray(off + 8, off + 8 + len);
    assert.equal(png.readUInt32BE(off + 8 + len), zlib.crc32(png.subarray(off + 4, off + 8 + len)), `CRC of ${type}`);
    chunkTypes.push(type);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.deepEqual([...data.subarray(8)], [8, 6, 0, 0, 0]);
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'tEXt') {
      const z = data.indexOf(0);
      text.set(data.toString('latin1', 0, z), data.toString('latin1', z + 1));
    }
    off += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  assert.equal(raw.length, height * (width * 4 + 1));
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    assert.equal(raw[y * (width * 4 + 1)], 0, 'filter type None');
    rgba.set(raw.subarray(y * (width * 4 + 1) + 1, (y + 1) * (width * 4 + 1)), y * width * 4);
  }
  return { width, height, rgba, text, chunkTypes };
}

function pixel(d: Decoded, x: number, y: number): number[] {
  const o = (y * d.width + x) * 4;
  return [...d.rgba.subarray(o, o + 4)];
}

describe('crc32', () => {
  test('standard check value of "123456789" is 0xCBF43926', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  });
});

describe('encodePng', () => {
  test('round-trips a 3×2 image through an independent decoder', () => {
    const rgba = Uint8Array.from({ length: 24 }, (_, i) => (i * 37) % 256);
    const d = decodePng(encodePng(3, 2, rgba, { Title: 'x' }));
    assert.equal(d.width, 3);
    assert.equal(d.height, 2);
    assert.deepEqual([...d.rgba], [...rgba]);
    assert.equal(d.text.get('Title'), 'x');
    assert.deepEqual(d.chunkTypes, ['IHDR', 'tEXt', 'IDAT', 'IEND']);
  });

  test('wrong buffer size and sizes out of range are refused', () => {
    assert.throws(() => encodePng(2, 2, new Uint8Array(15)), (e: unknown) => isWeightsmithError(e, ErrorCode.ShapeMismatch));
    assert.throws(() => encodePng(0, 2, new Uint8Array(0)), (e: unknown) => isWeightsmithError(e, ErrorCode.InvalidInput));
    assert.throws(() => encodePng(5000, 1, new Uint8Array(20000)), (e: unknown) => isWeightsmithError(e, ErrorCode.InvalidInput));
  });
});

describe('colourRgb', () => {
  test('hex and hsl', () => {
    assert.deepEqual(colourRgb('#E69F00'), [230, 159, 0]);
    assert.deepEqual(colourRgb('hsl(0,100%,50%)'), [255, 0, 0]);
    assert.deepEqual(colourRgb('hsl(120,100%,25%)'), [0, 128, 0]);
  });
});

describe('dominanceMapPng', () => {
  // 2 × 2 grid of 100-unit tiles, rendered at 4 px → each tile is a 2 × 2 pixel block.
  const coords = [0, 0, 100, 0, 0, 100, 100, 100];
  const dominant = [0, 1, 2, 0];
  const names = ['UNI', 'CONCH', 'Virchow2'];

  test('each tile is a block of its model colour', () => {
    const d = decodePng(dominanceMapPng(coords, dominant, names, { size: 4 }));
    assert.equal(d.width, 4);
    assert.equal(d.height, 4);
    const expect = (m: number): number[] => [...colourRgb(modelColour(m)), 255];
    for (const [x, y, m] of [
      [0, 0, 0],
      [1, 1, 0],
      [2, 0, 1],
      [3, 1, 1],
      [0, 2, 2],
      [1, 3, 2],
      [2, 2, 0],
      [3, 3, 0],
    ] as const) {
      assert.deepEqual(pixel(d, x, y), expect(m), `pixel (${x}, ${y})`);
    }
    assert.equal(d.text.get('Models'), 'UNI, CONCH, Virchow2');
  });

  test('a near tie is lighter: a weight of 1/M blends 25 % colour into white', () => {
    const d = decodePng(dominanceMapPng(coords, dominant, names, { size: 4, alpha: [1 / 3, 1, 1, 1] }));
    const [r, g, b] = colourRgb(modelColour(0));
    assert.deepEqual(pixel(d, 0, 0), [Math.round(255 + (r - 255) * 0.25), Math.round(255 + (g - 255) * 0.25), Math.round(255 + (b - 255) * 0.25), 255]);
  });

  test('an empty area between tiles stays white', () => {
    const d = decodePng(dominanceMapPng([0, 0, 300, 0], [0, 1], names.slice(0, 2), { size: 8, tileSize: 100 }));
    assert.deepEqual(pixel(d, 4, 0), [255, 255, 255, 255]);
  });

  test('bad tiles are named', () => {
    assert.throws(
      () => dominanceMapPng(coords, [0, 1, 3, 0], names),
      (e: unknown) => isWeightsmithError(e, ErrorCode.InvalidInput) && e.field === 'dominantModel',
    );
  });
});
