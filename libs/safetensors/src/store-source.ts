/** `ByteSource` over one object-store key: ranged GETs, so a tensor is fetched without the rest. */
import type { Readable } from 'node:stream';
import { invalidFormat } from '@weightsmith/core';
import type { ObjectStore } from '@weightsmith/store';
import { checkRange, exactLengthStream, type ByteSource, targetFor } from './byte-source.js';

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
    async read(offset, length, into) {
      checkRange(size, offset, length);
      const target = into === undefined ? undefined : targetFor(into, length);
      // A zero-length range is not expressible as an HTTP Range header.
      if (length === 0) return target ?? new Uint8Array(0);
      if (target === undefined) {
        const bytes = await store.getBytes(key, { offset, length });
        if (bytes.byteLength !== length) {
          throw invalidFormat(`${where}: range read at ${offset} returned ${bytes.byteLength} of ${length} bytes (object changed?)`);
        }
        return bytes;
      }
      let filled = 0;
      for await (const chunk of await store.get(key, { offset, length })) {
        const c = chunk as Uint8Array;
        if (filled + c.byteLength > length) throw invalidFormat(`${where}: range read at ${offset} returned more than ${length} bytes`);
        target.set(c, filled);
        filled += c.byteLength;
      }
      if (filled !== length) throw invalidFormat(`${where}: range read at ${offset} returned ${filled} of ${length} bytes (object changed?)`);
      return target;
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
