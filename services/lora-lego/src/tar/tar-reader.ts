/**
 * Tar index reader over a `ByteSource`: walks the headers only (never the file data) and returns
 * where each regular file's bytes lie, so a file inside the archive can be read in place through
 * `subrangeSource` without extracting it.
 *
 * Understood: POSIX ustar (name prefix), pax extended headers (`x`: path and size; `g`: skipped,
 * global values do not name one file), GNU long names (`L`) and long links (`K`, skipped), GNU
 * base-256 sizes, directory entries (skipped). Refused: links, devices, FIFOs, sparse and other
 * special entries, absolute paths and `..`, duplicate names, bad checksums, truncation.
 */
import { ErrorCode, WeightsmithError, invalidFormat } from '@weightsmith/core';
import type { ByteSource } from '@weightsmith/safetensors';
import { BLOCK, decodeHeader, headerChecksums, isZeroBlock, paddingAfter } from './ustar.js';

export interface TarEntry {
  /** Normalised path: no leading `./`, no empty segments. */
  name: string;
  /** Offset of the file's first data byte in the archive. */
  offset: number;
  size: number;
}

export interface TarIndexOptions {
  /** Largest accepted regular file (default 16 GiB). */
  maxFileBytes?: number;
  /** Most entries (files and directories) accepted (default 10 000). */
  maxEntries?: number;
  /** Name for messages, e.g. the upload or object key. */
  label?: string;
}

/** Pax and GNU long-name records are small; a larger one is an attack or a corrupt archive. */
const MAX_META_BYTES = 1 << 20;
const utf8 = new TextDecoder('utf-8');

const REFUSED_TYPES: Record<string, string> = {
  '1': 'a hard link',
  '2': 'a symbolic link',
  '3': 'a character device',
  '4': 'a block device',
  '6': 'a FIFO',
  S: 'a GNU sparse file',
  M: 'a GNU multi-volume continuation',
  V: 'a GNU volume label',
};

/** Normalises an archive path; throws for absolute paths and `..`. */
export function normaliseTarPath(raw: string, label: string): { path: string; isDir: boolean } {
  const isDir = raw.endsWith('/');
  if (raw.startsWith('/')) throw invalidFormat(`${label}: tar entry "${raw}" has an absolute path`, raw);
  if (raw.includes('\0')) throw invalidFormat(`${label}: tar entry name has a NUL byte`, raw);
  const parts: string[] = [];
  for (const segment of raw.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') throw invalidFormat(`${label}: tar entry "${raw}" escapes the archive with ".."`, raw);
    parts.push(segment);
  }
  return { path: parts.join('/'), isDir };
}

/** Parses pax records: `"<len> <key>=<value>\n"`, where len counts the whole record. */
export function parsePaxRecords(bytes: Uint8Array, label: string): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < bytes.length) {
    if (bytes[at] === 0) break; // some writers pad with NULs
    const space = bytes.indexOf(0x20, at);
    const len = space === -1 ? NaN : Number(utf8.decode(bytes.subarray(at, space)));
    if (!Number.isSafeInteger(len) || len <= space - at || at + len > bytes.length || bytes[at + len - 1] !== 0x0a) {
      throw invalidFormat(`${label}: malformed pax extended header record at byte ${at}`);
    }
    const record = utf8.decode(bytes.subarray(space + 1, at + len - 1));
    const eq = record.indexOf('=');
    if (eq === -1) throw invalidFormat(`${label}: pax record "${record}" has no "="`);
    records.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return records;
}

export async function readTarIndex(source: ByteSource, options: TarIndexOptions = {}): Promise<TarEntry[]> {
  const label = options.label ?? 'tar';
  const maxFileBytes = options.maxFileBytes ?? 16 * 2 ** 30;
  const maxEntries = options.maxEntries ?? 10_000;
  const entries: TarEntry[] = [];
  const names = new Set<string>();
  let pending: { path?: string; size?: number } = {};
  let offset = 0;
  let count = 0;

  const fail = (message: string, field?: string): never => {
    throw invalidFormat(`${label}: ${message}`, field);
  };

  for (;;) {
    if (offset + BLOCK > source.size) {
      if (offset === source.size && offset > 0) break; // tolerated: archive without end-of-archive blocks
      fail(offset === 0 ? 'not a tar archive (shorter than one header block)' : `truncated archive: header at byte ${offset} is cut off`);
    }
    const block = await source.read(offset, BLOCK);
    if (isZeroBlock(block)) break; // end of archive (the second zero block and record padding are not needed)
    const header = decodeHeader(block);
    const sums = headerChecksums(block);
    if (header.checksum === undefined || (header.checksum !== sums.unsigned && header.checksum !== sums.signed)) {
      fail(
        offset === 0 && header.magic === 'v7'
          ? 'not a tar archive (the first header has no valid checksum)'
          : `bad header checksum at byte ${offset} (entry "${header.name}")`,
      );
    }
    const size = pending.size ?? header.size;
    if (size === undefined) fail(`entry "${header.name}" at byte ${offset} has a malformed size field`);
    const dataOffset = offset + BLOCK;
    const next = dataOffset + size! + paddingAfter(size!);
    if (dataOffset + size! > source.size) fail(`truncated archive: entry "${header.name}" declares ${size} bytes, the archive ends first`);
    if (++count > maxEntries) {
      throw new WeightsmithError(ErrorCode.TooLarge, `${label}: more than ${maxEntries} tar entries`, { field: 'tar' });
    }

    const type = header.typeflag;
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      if (size! > MAX_META_BYTES) fail(`${type === 'L' || type === 'K' ? 'GNU long name' : 'pax'} header of ${size} bytes is too large`);
      const data = await source.read(dataOffset, size!);
      if (type === 'x') {
        const records = parsePaxRecords(data, label);
        const path = records.get('path');
        const paxSize = records.get('size');
        if (path !== undefined) pending.path = path;
        if (paxSize !== undefined) {
          if (!/^\d+$/.test(paxSize) || !Number.isSafeInteger(Number(paxSize))) fail(`pax size "${paxSize}" is not a byte count`);
          pending.size = Number(paxSize);
        }
      } else if (type === 'g') {
        parsePaxRecords(data, label); // validated, then ignored: global defaults name no single file
      } else if (type === 'L') {
        const end = data.indexOf(0);
        pending.path = utf8.decode(end === -1 ? data : data.subarray(0, end));
      }
      offset = next;
      continue;
    }

    const rawName = pending.path ?? (header.prefix ? `${header.prefix}/${header.name}` : header.name);
    pending = {};
    const refused = REFUSED_TYPES[type];
    if (refused) fail(`entry "${rawName}" is ${refused}; only regular files are accepted`, rawName);
    const { path, isDir } = normaliseTarPath(rawName, label);
    if (type === '5') {
      offset = next;
      continue;
    }
    if (type !== '0' && type !== '7') fail(`entry "${rawName}" has unsupported type "${type}"; only regular files are accepted`, rawName);
    if (isDir || path === '') fail(`regular file entry "${rawName}" has a directory name`, rawName);
    if (size! > maxFileBytes) {
      throw new WeightsmithError(ErrorCode.TooLarge, `${label}: entry "${path}" is ${size} bytes, over the ${maxFileBytes}-byte limit`, {
        field: path,
      });
    }
    if (names.has(path)) fail(`entry "${path}" appears more than once`, path);
    names.add(path);
    entries.push({ name: path, offset: dataOffset, size: size! });
    offset = next;
  }
  return entries;
}

/** The bytes `[offset, offset + length)` of `source` as a source of their own (a file inside a tar). */
export function subrangeSource(source: ByteSource, offset: number, length: number): ByteSource {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > source.size) {
    throw invalidFormat(`range [${offset}, ${offset + length}) is outside the ${source.size}-byte source`);
  }
  const check = (o: number, l: number): void => {
    if (!Number.isSafeInteger(o) || !Number.isSafeInteger(l) || o < 0 || l < 0 || o + l > length) {
      throw invalidFormat(`range [${o}, ${o + l}) is outside the ${length}-byte file`);
    }
  };
  return {
    size: length,
    read(o, l, into) {
      check(o, l);
      return source.read(offset + o, l, into);
    },
    stream(o, l) {
      check(o, l);
      return source.stream(offset + o, l);
    },
    // The parent source is owned by whoever opened it; closing a view closes it too, so one
    // `close()` on the adapter releases the archive's file handle.
    close: () => source.close?.() ?? Promise.resolve(),
  };
}
