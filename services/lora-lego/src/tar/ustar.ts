/**
 * POSIX ustar header blocks (IEEE 1003.1-1988 `ustar` as extended by pax, plus the GNU
 * variants GNU tar writes). Pure byte-level code: encoding one header, decoding one header.
 */
export const BLOCK = 512;

/** Largest size the 11 octal digits of the ustar size field hold (8 GiB - 1). */
export const MAX_OCTAL_SIZE = 0o77777777777;

const FIELD = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const;

const utf8 = new TextEncoder();
const latin = new TextDecoder('utf-8');

function field(block: Uint8Array, name: keyof typeof FIELD): Uint8Array {
  const [at, len] = FIELD[name];
  return block.subarray(at, at + len);
}

/** A NUL-terminated string field. */
function readString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return latin.decode(end === -1 ? bytes : bytes.subarray(0, end));
}

/**
 * A numeric field: octal ASCII (padded with spaces/NULs), or GNU base-256 (first byte has the
 * high bit set) for values the octal digits cannot hold. Undefined when malformed.
 */
export function readNumber(bytes: Uint8Array): number | undefined {
  const first = bytes[0] ?? 0;
  if (first & 0x80) {
    if (first === 0xff) return undefined; // negative
    let value = first & 0x7f;
    for (let i = 1; i < bytes.length; i++) {
      value = value * 256 + (bytes[i] ?? 0);
      if (!Number.isSafeInteger(value)) return undefined;
    }
    return value;
  }
  const text = readString(bytes).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  const value = parseInt(text, 8);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Sum of the header's bytes with the checksum field counted as spaces (unsigned, and the signed variant old tars used). */
export function headerChecksums(block: Uint8Array): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return { unsigned, signed };
}

export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

export interface RawHeader {
  name: string;
  linkname: string;
  typeflag: string;
  size: number | undefined;
  checksum: number | undefined;
  magic: 'ustar' | 'gnu' | 'v7';
  prefix: string;
}

export function decodeHeader(block: Uint8Array): RawHeader {
  const magicBytes = latin.decode(block.subarray(257, 265));
  // POSIX: "ustar\0" + "00"; GNU (old style): "ustar  \0".
  const magic = magicBytes === 'ustar\u000000' ? 'ustar' : magicBytes === 'ustar  \u0000' ? 'gnu' : 'v7';
  const flag = block[156] ?? 0;
  return {
    name: readString(field(block, 'name')),
    linkname: readString(field(block, 'linkname')),
    typeflag: flag === 0 ? '0' : String.fromCharCode(flag),
    size: readNumber(field(block, 'size')),
    checksum: readNumber(field(block, 'chksum')),
    magic,
    // The GNU format uses the prefix area for other fields (atime, ctime…).
    prefix: magic === 'ustar' ? readString(field(block, 'prefix')) : '',
  };
}

function writeString(block: Uint8Array, name: keyof typeof FIELD, value: string): void {
  const bytes = utf8.encode(value);
  const [at, len] = FIELD[name];
  if (bytes.length > len) throw new RangeError(`tar ${name} "${value}" is longer than ${len} bytes`);
  block.set(bytes, at);
}

/** Octal digits, zero-padded, NUL-terminated, filling the field. */
function writeOctal(block: Uint8Array, name: keyof typeof FIELD, value: number): void {
  const [at, len] = FIELD[name];
  block.set(utf8.encode(value.toString(8).padStart(len - 1, '0')), at);
  block[at + len - 1] = 0;
}

/** GNU base-256: for sizes above the octal field's 8 GiB limit. */
function writeBase256(block: Uint8Array, name: keyof typeof FIELD, value: number): void {
  const [at, len] = FIELD[name];
  let v = value;
  for (let i = len - 1; i > 0; i--) {
    block[at + i] = v % 256;
    v = Math.floor(v / 256);
  }
  block[at] = 0x80;
}

/**
 * One regular-file header with every variable field fixed: mode 0644, uid/gid 0, mtime 0, empty
 * uname/gname. The same name and size always give the same 512 bytes.
 */
export function encodeFileHeader(name: string, size: number): Uint8Array {
  const block = new Uint8Array(BLOCK);
  writeString(block, 'name', name);
  writeOctal(block, 'mode', 0o644);
  writeOctal(block, 'uid', 0);
  writeOctal(block, 'gid', 0);
  if (size <= MAX_OCTAL_SIZE) writeOctal(block, 'size', size);
  else writeBase256(block, 'size', size);
  writeOctal(block, 'mtime', 0);
  block[156] = 0x30; // '0': regular file
  writeString(block, 'magic', 'ustar');
  block.set(utf8.encode('00'), FIELD.version[0]);
  writeOctal(block, 'devmajor', 0);
  writeOctal(block, 'devminor', 0);
  const sum = headerChecksums(block).unsigned;
  // Six octal digits, NUL, space: what GNU tar and bsdtar write.
  block.set(utf8.encode(sum.toString(8).padStart(6, '0')), FIELD.chksum[0]);
  block[FIELD.chksum[0] + 6] = 0;
  block[FIELD.chksum[0] + 7] = 0x20;
  return block;
}

/** Bytes of padding after `size` bytes of file data, up to the next block boundary. */
export function paddingAfter(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}
