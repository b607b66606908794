/** `ByteSource` over a local file: one open handle, positioned reads, no whole-file buffering. */
import { constants as bufferConstants } from 'node:buffer';
import { open, type FileHandle } from 'node:fs/promises';
import { ErrorCode, WeightsmithError, invalidFormat, invalidInput, notFound } from '@weightsmith/core';
import { STREAM_CHUNK_BYTES, checkRange, exactLengthStream, type ByteSource, targetFor } from './byte-source.js';

export interface FileByteSource extends ByteSource {
  readonly path: string;
  close(): Promise<void>;
}

/** One `read()` call moves at most this much; the OS caps single reads near 2 GiB. */
const MAX_READ_CALL_BYTES = 1 << 30;

/** A buffer of `length` bytes; unzeroed because every byte is overwritten by the read. */
export function allocateForRead(length: number, what: string): Uint8Array {
  if (length > bufferConstants.MAX_LENGTH) {
    throw new WeightsmithError(
      ErrorCode.TooLarge,
      `${what}: ${length} bytes exceed the largest buffer this runtime can allocate (${bufferConstants.MAX_LENGTH}); stream it instead`,
      { field: what },
    );
  }
  if (length === 0) return new Uint8Array(0);
  // allocUnsafeSlow: its own ArrayBuffer at byteOffset 0, so any typed-array view is aligned.
  // Handed out as a plain Uint8Array, like the other sources, not as a Buffer.
  return new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
}

async function readFully(handle: FileHandle, into: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < into.byteLength) {
    const want = Math.min(into.byteLength - done, MAX_READ_CALL_BYTES);
    const { bytesRead } = await handle.read(into, done, want, position + done);
    if (bytesRead === 0) {
      throw invalidFormat(
        `${path}: unexpected end of file reading bytes [${position}, ${position + into.byteLength}) (file shorter than when opened?)`,
      );
    }
    done += bytesRead;
  }
}

export async function openFileSource(path: string): Promise<FileByteSource> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound(`file not found: ${path}`, 'path');
    throw cause;
  }
  let size: number;
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw invalidInput('path', `not a regular file: ${path}`);
    size = st.size;
  } catch (err) {
    await handle.close();
    throw err;
  }

  let closed: Promise<void> | undefined;
  return {
    path,
    size,
    async read(offset, length, into) {
      checkRange(size, offset, length);
      const out = into === undefined ? allocateForRead(length, path) : targetFor(into, length);
      await readFully(handle, out, offset, path);
      return out;
    },
    stream(offset, length) {
      checkRange(size, offset, length);
      return exactLengthStream(
        async function* () {
          for (let p = offset; p < offset + length; p += STREAM_CHUNK_BYTES) {
            // A fresh buffer per chunk: consumers may keep chunks after the next one arrives.
            const chunk = Buffer.allocUnsafe(Math.min(STREAM_CHUNK_BYTES, offset + length - p));
            await readFully(handle, chunk, p, path);
            yield chunk;
          }
        },
        length,
        path,
      );
    },
    close() {
      closed ??= handle.close();
      return closed;
    },
  };
}
