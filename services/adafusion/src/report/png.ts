/**
 * A minimal PNG encoder (8-bit RGBA, no interlace, filter 0 on every row, zlib from node:zlib)
 * and a rasterised dominance map on top of it — for clients that cannot show SVG. The raster
 * has no text (no font renderer without a native dependency): the legend lives in the JSON
 * report and the SVG; the PNG carries the model order in a tEXt chunk.
 */
import { deflateSync } from 'node:zlib';
import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';
import { modelColour } from './svg.js';
import { layoutTiles, winnerStrength } from './tile-layout.js';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO-HDLC, the one PNG chunks use) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Keeps a raster's memory bounded (4 bytes/pixel): 4096² ≈ 64 MiB. */
const MAX_SIDE = 4096;

/**
 * PNG bytes of a width × height RGBA image (row-major, 4 bytes per pixel). `text` entries become
 * tEXt chunks (Latin-1 keywords of 1–79 characters).
 */
export function encodePng(width: number, height: number, rgba: Uint8Array, text: Record<string, string> = {}): Buffer {
  for (const [v, f] of [
    [width, 'width'],
    [height, 'height'],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1 || v > MAX_SIDE) throw invalidInput(f, `${f} must be an integer in 1..${MAX_SIDE}, got ${v}`);
  }
  if (rgba.length !== width * height * 4) {
    throw new WeightsmithError(ErrorCode.ShapeMismatch, `rgba has ${rgba.length} bytes, expected ${width}×${height}×4`, { field: 'rgba' });
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type: truecolour with alpha
  // compression 0, filter method 0, interlace 0
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter type None
    raw.set(rgba.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const textChunks = Object.entries(text).map(([key, value]) => {
    if (!/^[\x20-\x7e]{1,79}$/.test(key)) throw invalidInput('text', `PNG text keyword "${key}" must be 1–79 printable ASCII characters`);
    return chunk('tEXt', Buffer.from(`${key}\0${value.replace(/[^\x20-\x7e\xa0-\xff\n]/g, '?')}`, 'latin1'));
  });
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', ihdr),
    ...textChunks,
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** RGB bytes of a palette colour (`#rrggbb` or `hsl(h,s%,l%)`). */
export function colourRgb(colour: string): [number, number, number] {
  const hex = /^#([0-9a-fA-F]{6})$/.exec(colour);
  if (hex) {
    const v = Number.parseInt(hex[1]!, 16);
    return [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
  }
  const hsl = /^hsl\((\d+(?:\.\d+)?),(\d+(?:\.\d+)?)%,(\d+(?:\.\d+)?)%\)$/.exec(colour);
  if (!hsl) throw invalidInput('colour', `unsupported colour ${colour}`);
  const h = Number(hsl[1]) / 360;
  const s = Number(hsl[2]) / 100;
  const l = Number(hsl[3]) / 100;
  const q = l < 0.5 ? l * (1 + s) : l + s - l * s;
  const p = 2 * l - q;
  const channel = (t: number): number => {
    const tt = t < 0 ? t + 1 : t > 1 ? t - 1 : t;
    const v = tt < 1 / 6 ? p + (q - p) * 6 * tt : tt < 1 / 2 ? q : tt < 2 / 3 ? p + (q - p) * (2 / 3 - tt) * 6 : p;
    return Math.round(v * 255);
  };
  return [channel(h + 1 / 3), channel(h), channel(h - 1 / 3)];
}

export interface DominancePngOptions {
  /** Per tile, the winner's gate weight in [1/M, 1]; blends the colour towards white for near ties. */
  alpha?: ArrayLike<number>;
  /** Longest side of the image in px (default 800). */
  size?: number;
  /** Tile side in coordinate units (default: smallest gap between distinct x or y values). */
  tileSize?: number;
}

/**
 * The dominance map as a PNG: white background, one filled square per tile in its model's
 * colour (the same colours as the SVG), lighter where the gate nearly ties.
 */
export function dominanceMapPng(
  coords: ArrayLike<number>,
  dominantModel: ArrayLike<number>,
  modelNames: readonly string[],
  options: DominancePngOptions = {},
): Buffer {
  const M = modelNames.length;
  const { n, minX, minY, spanX, spanY, tile } = layoutTiles(coords, dominantModel, M, options);
  const size = options.size ?? 800;
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_SIDE) throw invalidInput('size', `size must be an integer in 1..${MAX_SIDE}, got ${size}`);
  const scale = size / Math.max(spanX, spanY);
  const width = Math.max(1, Math.round(spanX * scale));
  const height = Math.max(1, Math.round(spanY * scale));
  const rgba = new Uint8Array(width * height * 4).fill(255);
  const colours = modelNames.map((_, m) => colourRgb(modelColour(m)));
  for (let t = 0; t < n; t++) {
    const x0 = Math.round((coords[2 * t]! - minX) * scale);
    const y0 = Math.round((coords[2 * t + 1]! - minY) * scale);
    // Edges from rounded ends, so neighbouring tiles meet without gaps or overlaps.
    const x1 = Math.min(width, Math.max(x0 + 1, Math.round((coords[2 * t]! - minX + tile) * scale)));
    const y1 = Math.min(height, Math.max(y0 + 1, Math.round((coords[2 * t + 1]! - minY + tile) * scale)));
    const strength = options.alpha === undefined ? 1 : winnerStrength(options.alpha[t]!, M);
    const [r, g, b] = colours[dominantModel[t]!]!;
    const pr = Math.round(255 + (r - 255) * strength);
    const pg = Math.round(255 + (g - 255) * strength);
    const pb = Math.round(255 + (b - 255) * strength);
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const o = (y * width + x) * 4;
        rgba[o] = pr;
        rgba[o + 1] = pg;
        rgba[o + 2] = pb;
      }
    }
  }
  return encodePng(width, height, rgba, { Title: 'AdaFusion dominance map', Models: modelNames.join(', ') });
}
