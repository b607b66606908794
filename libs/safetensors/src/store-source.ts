/** `ByteSource` over one object-store key: ranged GETs, so a tensor is fetched without the rest. */
import type { Readable } from 'node:stream';
import { invalidFormat } from '@weightsmith/core';
import type { ObjectStore } from '@weightsmith/store';
import { checkRange, exactLengthStream, type ByteSource } from './byte-source.js';

export interface ObjectStoreByteSource extends ByteSource {
  readonly key: string;
}

/**
 * Stats `key` once for its size; every later read is a ranged GET. Store errors (`not_found`,
 * `store_unavailable`) pass through unchanged.
 */
export async function openObjectStoreSource(store: ObjectStore, key: string): Promise<ObjectStoreByteSource> {
  const { size } = await store.stat(key);
  const where = store.uri(key);
  return {
    key,
    size,
    async read(offset, length) {
      checkRange(size, offset, length);
      // A zero-length range is not expressible as an HTTP Range header.
      if (length === 0) return new Uint8Array(0);
      const bytes = await store.getBytes(key, { offset, length });
      if (bytes.byteLength !== length) {
        throw invalidFormat(`${where}: range read at ${offset} returned ${bytes.byteLength} of ${length} bytes (object changed?)`);
      }
      return bytes;
    },
    stream(offset, length) {
      checkRange(size, offset, length);
      return exactLengthStream(
        async function* () {
          if (length === 0) return;
          const body: Readable = await store.get(key, { offset, length });
          for await (const chunk of body) yield chunk as Uint8Array;
        },
        length,
        where,
      );
    },
  };
}
