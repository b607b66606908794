/**
 * Deterministic tar writer: regular files only, fixed metadata (see `encodeFileHeader`), files
 * in the order given, no compression, ended by two zero blocks (no record padding). The same
 * files always give the same bytes, so a content hash of the tar identifies its contents.
 */
import { Readable } from 'node:stream';
import { invalidInput, ErrorCode, WeightsmithError } from '@weightsmith/core';
import { BLOCK, encodeFileHeader, paddingAfter } from './ustar.js';

export interface TarFileToWrite {
  /** Path inside the archive: relative, `/`-separated, at most 100 bytes (no long-name headers). */
  name: string;
  /** Exact byte count `body` yields. */
  size: number;
  /** The file's bytes, produced only when the writer reaches the file. */
  body: Uint8Array | (() => AsyncIterable<Uint8Array> | Iterable<Uint8Array>);
}

export interface TarStream {
  stream: Readable;
  /** Exact size of the archive, known before any byte is produced. */
  bytes: number;
}

const END_OF_ARCHIVE = 2 * BLOCK;

function checkFile(file: TarFileToWrite, index: number, seen: Set<string>): void {
  const field = `files[${index}]`;
  if (typeof file.name !== 'string' || file.name === '' || file.name.startsWith('/') || file.name.split('/').includes('..')) {
    throw invalidInput(`${field}.name`, `tar entry name must be a relative path without "..", got ${JSON.stringify(file.name)}`);
  }
  if (Buffer.byteLength(file.name) > 100) throw invalidInput(`${field}.name`, `tar entry name "${file.name}" is longer than 100 bytes`);
  if (seen.has(file.name)) throw invalidInput(`${field}.name`, `tar entry "${file.name}" appears twice`);
  seen.add(file.name);
  if (!Number.isSafeInteger(file.size) || file.size < 0) {
    throw invalidInput(`${field}.size`, `tar entry "${file.name}": size must be a non-negative integer, got ${file.size}`);
  }
  if (file.body instanceof Uint8Array && file.body.byteLength !== file.size) {
    throw invalidInput(`${field}.size`, `tar entry "${file.name}": size ${file.size} but the body has ${file.body.byteLength} bytes`);
  }
}

/** Archive size for files of these sizes. */
export function tarSize(sizes: readonly number[]): number {
  return sizes.reduce((total, size) => total + BLOCK + size + paddingAfter(size), 0) + END_OF_ARCHIVE;
}

async function* archiveChunks(files: readonly TarFileToWrite[]): AsyncGenerator<Uint8Array> {
  for (const file of files) {
    yield encodeFileHeader(file.name, file.size);
    if (file.body instanceof Uint8Array) {
      if (file.size > 0) yield file.body;
    } else {
      let written = 0;
      for await (const chunk of file.body()) {
        written += chunk.byteLength;
        if (written > file.size) break;
        if (chunk.byteLength > 0) yield chunk;
      }
      if (written !== file.size) {
        // A short or long body would shift every later header: fail rather than emit a corrupt archive.
        throw new WeightsmithError(
          ErrorCode.Internal,
          `tar entry "${file.name}": body produced ${written > file.size ? 'more than ' : ''}${written > file.size ? file.size : written} bytes, declared ${file.size}`,
          { field: file.name },
        );
      }
    }
    const pad = paddingAfter(file.size);
    if (pad > 0) yield new Uint8Array(pad);
  }
  yield new Uint8Array(END_OF_ARCHIVE);
}

/** Validates the file list now (throwing before any I/O) and returns the lazy archive stream with its size. */
export function createTarStream(files: readonly TarFileToWrite[]): TarStream {
  const seen = new Set<string>();
  files.forEach((f, i) => checkFile(f, i, seen));
  return {
    bytes: tarSize(files.map((f) => f.size)),
    stream: Readable.from(archiveChunks(files), { objectMode: false }),
  };
}

/** The whole archive in memory (small archives, tests). */
export async function serializeTar(files: readonly TarFileToWrite[]): Promise<Uint8Array> {
  const { stream, bytes } = createTarStream(files);
  const out = new Uint8Array(bytes);
  let at = 0;
  for await (const chunk of stream) {
    out.set(chunk as Uint8Array, at);
    at += (chunk as Uint8Array).byteLength;
  }
  return out;
}
