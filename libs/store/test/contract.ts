import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { ErrorCode } from '@weightsmith/core';
import type { ObjectStore } from '../src/object-store.js';
import { collect, patternBytes, rejectsWith, sha256, sleep, streamOf } from './helpers.js';

/** One backend under test, with hooks to look behind the interface where the contract needs it. */
export interface StoreFixture {
  store: ObjectStore;
  /**
   * Bytes the backend has received so far (the folder store's temp files, or a counting proxy in
   * front of S3). Used to prove a put forwards data before its body ends. Omit if unobservable.
   */
  receivedBytes?: () => Promise<number>;
  /** In-flight/temp files the backend would leave behind (they must be gone after a failed put). */
  leftoverTempFiles?: () => Promise<string[]>;
  /**
   * Known deviations of a test double from the semantics real backends give (s3rver). The
   * contract skips exactly these checks here; they run against the folder store and real S3.
   */
  limitations?: {
    /** Writes objects in place and keeps the bytes of an upload whose connection dropped. */
    keepsAbortedUploads?: boolean;
    /** Lists folder by folder, so 'k-x' sorts after 'k/…' and start-after skips keys. */
    listsByPathSegments?: boolean;
  };
  cleanup(): Promise<void>;
}

/** Keys that must be rejected by every operation, each for the rule it breaks. */
export const BAD_KEYS: ReadonlyArray<[string, string]> = [
  ['empty', ''],
  ['absolute', '/etc/passwd'],
  ['parent segment', '../outside'],
  ['inner parent segment', 'a/../../outside'],
  ['dot segment', './a'],
  ['inner dot segment', 'a/./b'],
  ['empty segment', 'a//b'],
  ['trailing slash', 'a/b/'],
  ['backslash', 'a\\..\\b'],
  ['NUL', 'a\u0000b'],
  ['newline', 'a\nb'],
  ['DEL', 'a\u007fb'],
  ['hidden segment', '.tmp/x'],
  ['too long', 'k'.repeat(1025)],
  ['too long in UTF-8', 'é'.repeat(513)],
];

/** Bytes that arrive in chunks and, halfway, wait until `gate` says the store has seen some of them. */
function gatedStream(total: number, chunkSize: number, gateAt: number, gate: () => Promise<void>, hash: ReturnType<typeof createHash>): Readable {
  let sent = 0;
  let index = 0;
  return Readable.from(
    (async function* () {
      while (sent < total) {
        if (sent >= gateAt && sent - chunkSize < gateAt) await gate();
        const size = Math.min(chunkSize, total - sent);
        const chunk = patternBytes(size, ++index);
        hash.update(chunk);
        sent += size;
        yield chunk;
      }
    })(),
  );
}

export function runObjectStoreContract(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let fx: StoreFixture;
    let store: ObjectStore;
    // Every test works under its own prefix, so tests never see each other's objects.
    const ns = (): string => `c-${randomUUID().slice(0, 8)}`;

    before(async () => {
      fx = await makeStore();
      store = fx.store;
    });
    after(async () => {
      await fx?.cleanup();
    });

    test('put bytes and read them back whole, as a stream and as bytes', async () => {
      const key = `${ns()}/weights.bin`;
      const data = patternBytes(70_000, 7);
      const result = await store.put(key, data);
      assert.deepEqual(result, { key, size: data.length, created: true });
      const viaStream = await collect(await store.get(key));
      assert.equal(sha256(viaStream.bytes), sha256(data));
      assert.deepEqual(Buffer.from(await store.getBytes(key)), data);
    });

    test('put a stream with its size and read it back', async () => {
      const key = `${ns()}/a/b/c.bin`;
      const parts = [patternBytes(1000, 1), patternBytes(1, 2), patternBytes(65_536, 3), patternBytes(5, 4)];
      const total = parts.reduce((n, p) => n + p.length, 0);
      const result = await store.put(key, streamOf(parts), { size: total });
      assert.equal(result.size, total);
      assert.equal(result.created, true);
      assert.deepEqual(Buffer.from(await store.getBytes(key)), Buffer.concat(parts));
    });

    test('an empty object is stored and read back empty', async () => {
      const key = `${ns()}/empty`;
      await store.put(key, new Uint8Array(0));
      assert.equal((await store.stat(key)).size, 0);
      assert.equal((await store.getBytes(key)).length, 0);
      await store.put(`${key}-stream`, streamOf([]), { size: 0 });
      assert.equal((await store.getBytes(`${key}-stream`)).length, 0);
    });

    test('a stream body without size is rejected (field size)', async () => {
      const key = `${ns()}/nosize`;
      await rejectsWith(store.put(key, streamOf([patternBytes(10)])), ErrorCode.InvalidInput, 'size');
      await rejectsWith(store.put(key, patternBytes(10), { size: 11 }), ErrorCode.InvalidInput, 'size');
      assert.equal(await store.exists(key), undefined);
    });

    test('ranges: offset only, offset+length, zero length, end of object', async () => {
      const key = `${ns()}/range.bin`;
      const data = patternBytes(10_000, 11);
      await store.put(key, data);
      const slice = async (offset?: number, length?: number): Promise<Buffer> =>
        Buffer.from(await store.getBytes(key, { ...(offset === undefined ? {} : { offset }), ...(length === undefined ? {} : { length }) }));
      assert.deepEqual(await slice(1234), data.subarray(1234));
      assert.deepEqual(await slice(0, 1), data.subarray(0, 1));
      assert.deepEqual(await slice(4321, 100), data.subarray(4321, 4421));
      assert.deepEqual(await slice(9_990, 10), data.subarray(9_990));
      assert.deepEqual(await slice(undefined, 8), data.subarray(0, 8));
      assert.equal((await slice(500, 0)).length, 0);
      assert.equal((await slice(10_000, 0)).length, 0);
      assert.equal((await slice(10_000)).length, 0, 'offset == size reads nothing');
      assert.deepEqual((await collect(await store.get(key, { offset: 9_000 }))).bytes, data.subarray(9_000));
    });

    test('ranges past the end or malformed are rejected', async () => {
      const key = `${ns()}/range.bin`;
      await store.put(key, patternBytes(100, 12));
      await rejectsWith(store.getBytes(key, { offset: 101 }), ErrorCode.InvalidInput, 'offset');
      await rejectsWith(store.getBytes(key, { offset: 101, length: 0 }), ErrorCode.InvalidInput, 'offset');
      await rejectsWith(store.getBytes(key, { offset: 5000, length: 3 }), ErrorCode.InvalidInput, 'offset');
      await rejectsWith(store.getBytes(key, { offset: 90, length: 11 }), ErrorCode.InvalidInput, 'length');
      await rejectsWith(store.getBytes(key, { offset: 0, length: 101 }), ErrorCode.InvalidInput, 'length');
      await rejectsWith(store.get(key, { offset: -1 }), ErrorCode.InvalidInput, 'offset');
      await rejectsWith(store.get(key, { offset: 1.5 }), ErrorCode.InvalidInput, 'offset');
      await rejectsWith(store.get(key, { length: -2 }), ErrorCode.InvalidInput, 'length');
      await rejectsWith(store.get(`${ns()}/missing`, { offset: 3, length: 2 }), ErrorCode.NotFound, 'key');
    });

    test('stat and exists describe an object; missing keys are not_found', async () => {
      const prefix = ns();
      const key = `${prefix}/stat.bin`;
      const before = Date.now();
      await store.put(key, patternBytes(321));
      const info = await store.stat(key);
      assert.equal(info.key, key);
      assert.equal(info.size, 321);
      assert.ok(info.modified instanceof Date);
      // Backends store seconds at least; allow clock granularity and skew of a few seconds.
      assert.ok(Math.abs(info.modified.getTime() - before) < 60_000, `modified ${info.modified.toISOString()}`);
      assert.equal(typeof info.etag, 'string');
      assert.ok(info.etag.length > 0);
      assert.deepEqual(await store.exists(key), info);
      assert.equal(await store.exists(`${prefix}/nope`), undefined);
      await rejectsWith(store.stat(`${prefix}/nope`), ErrorCode.NotFound, 'key');
      await rejectsWith(store.get(`${prefix}/nope`), ErrorCode.NotFound, 'key');
      await rejectsWith(store.getBytes(`${prefix}/nope`), ErrorCode.NotFound, 'key');
      // A prefix of existing keys is not an object.
      await rejectsWith(store.stat(prefix), ErrorCode.NotFound, 'key');
    });

    test('overwrite replaces the whole object', async () => {
      const key = `${ns()}/over.bin`;
      await store.put(key, patternBytes(5000, 1));
      const second = patternBytes(1200, 2);
      const result = await store.put(key, streamOf([second]), { size: second.length });
      assert.deepEqual(result, { key, size: 1200, created: true });
      assert.deepEqual(Buffer.from(await store.getBytes(key)), second);
      assert.equal((await store.stat(key)).size, 1200);
    });

    test('ifNoneMatch: a second put leaves the first bytes and reports created:false', async () => {
      const key = `${ns()}/once.bin`;
      const first = patternBytes(300, 1);
      assert.equal((await store.put(key, first, { ifNoneMatch: true })).created, true);
      const again = await store.put(key, streamOf([patternBytes(999, 2)]), { size: 999, ifNoneMatch: true });
      assert.deepEqual(again, { key, size: 300, created: false });
      assert.deepEqual(Buffer.from(await store.getBytes(key)), first);
    });

    test('ifNoneMatch: 8 concurrent writers create exactly one intact object', async () => {
      const key = `${ns()}/race.bin`;
      const bodies = Array.from({ length: 8 }, (_, i) => patternBytes(200_000 + i * 1000, 100 + i));
      const results = await Promise.all(
        bodies.map((body, i) =>
          i % 2 === 0
            ? store.put(key, body, { ifNoneMatch: true })
            : store.put(key, streamOf([body.subarray(0, 1000), body.subarray(1000)]), { size: body.length, ifNoneMatch: true }),
        ),
      );
      const winners = results.map((r, i) => (r.created ? i : -1)).filter((i) => i >= 0);
      assert.equal(winners.length, 1, `created:true for writers ${winners.join(',')}`);
      const winner = bodies[winners[0] as number] as Buffer;
      const stored = Buffer.from(await store.getBytes(key));
      assert.equal(sha256(stored), sha256(winner), 'stored object is the complete body of the writer that created it');
      for (const r of results) assert.equal(r.size, winner.length);
    });

    test('list: lexicographic order, prefix filter and pagination across pages', async () => {
      const prefix = ns();
      // Shuffled insertion; '-' (0x2d) sorts before '/' (0x2f), so 'k-x' precedes 'k/…'.
      const tricky = fx.limitations?.listsByPathSegments ? 'kx' : 'k-x';
      const names = Array.from({ length: 22 }, (_, i) => `k/${String(i).padStart(3, '0')}`).concat([tricky, 'k0', 'j/z']);
      const keys = names.map((n) => `${prefix}/${n}`);
      const shuffled = [...keys].sort((a, b) => sha256(Buffer.from(a)).localeCompare(sha256(Buffer.from(b))));
      for (const key of shuffled) await store.put(key, Buffer.from(key));
      await store.put(`${prefix}x/outside`, Buffer.from('not under the prefix'));
      const expected = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      if (tricky === 'k-x') assert.deepEqual(expected.slice(0, 3), [`${prefix}/j/z`, `${prefix}/k-x`, `${prefix}/k/000`]);

      const seen: string[] = [];
      const sizes: number[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await store.list({ prefix: `${prefix}/`, limit: 10, ...(token === undefined ? {} : { token }) });
        pages++;
        sizes.push(page.items.length);
        for (const item of page.items) {
          assert.equal(item.size, Buffer.byteLength(item.key));
          assert.ok(item.modified instanceof Date);
          seen.push(item.key);
        }
        token = page.nextToken;
      } while (token !== undefined && pages < 10);
      assert.deepEqual(sizes, [10, 10, 5]);
      assert.deepEqual(seen, expected);

      const sub = await store.list({ prefix: `${prefix}/k/01` });
      assert.deepEqual(sub.items.map((i) => i.key), expected.filter((k) => k.startsWith(`${prefix}/k/01`)));
      assert.equal(sub.nextToken, undefined);
      const exact = await store.list({ prefix: `${prefix}/`, limit: 25 });
      assert.equal(exact.items.length, 25);
      assert.equal(exact.nextToken, undefined, 'no token when the page holds the last key');
      assert.deepEqual((await store.list({ prefix: `${prefix}/nothing` })).items, []);
      const after = await store.list({ prefix: `${prefix}/`, startAfter: `${prefix}/k/019`, limit: 3 });
      assert.deepEqual(after.items.map((i) => i.key), [`${prefix}/k/020`, `${prefix}/k/021`, `${prefix}/k0`]);
    });

    test('list rejects bad limits and tokens', async () => {
      await rejectsWith(store.list({ limit: 0 }), ErrorCode.InvalidInput, 'limit');
      await rejectsWith(store.list({ limit: 1001 }), ErrorCode.InvalidInput, 'limit');
      await rejectsWith(store.list({ limit: 2.5 }), ErrorCode.InvalidInput, 'limit');
      await rejectsWith(store.list({ token: 'not a token!' }), ErrorCode.InvalidInput, 'token');
      await rejectsWith(store.list({ token: Buffer.from('../x').toString('base64url') }), ErrorCode.InvalidInput, 'token');
      await rejectsWith(store.list({ prefix: '/abs' }), ErrorCode.InvalidInput, 'prefix');
    });

    test('delete removes the object; deleting a missing key is fine', async () => {
      const prefix = ns();
      await store.put(`${prefix}/a/x`, Buffer.from('x'));
      await store.put(`${prefix}/a/y`, Buffer.from('y'));
      await store.delete(`${prefix}/a/x`);
      await rejectsWith(store.get(`${prefix}/a/x`), ErrorCode.NotFound, 'key');
      assert.equal(await store.exists(`${prefix}/a/x`), undefined);
      assert.deepEqual((await store.list({ prefix })).items.map((i) => i.key), [`${prefix}/a/y`]);
      await store.delete(`${prefix}/a/x`);
      await store.delete(`${prefix}/never/was`);
      await store.delete(`${prefix}/a/y`);
      assert.deepEqual((await store.list({ prefix })).items, []);
      // The key can be written again after a delete (the folder store prunes empty folders).
      await store.put(`${prefix}/a/x`, Buffer.from('again'));
      assert.equal(Buffer.from(await store.getBytes(`${prefix}/a/x`)).toString(), 'again');
    });

    test('every escaping or malformed key is rejected with field key', async () => {
      for (const [rule, key] of BAD_KEYS) {
        const label = `${rule}: ${JSON.stringify(key.slice(0, 20))}`;
        await rejectsWith(store.put(key, Buffer.from('x')), ErrorCode.InvalidInput, 'key').catch((e: Error) => assert.fail(`put ${label}: ${e.message}`));
        await rejectsWith(store.get(key), ErrorCode.InvalidInput, 'key').catch((e: Error) => assert.fail(`get ${label}: ${e.message}`));
        await rejectsWith(store.getBytes(key), ErrorCode.InvalidInput, 'key');
        await rejectsWith(store.stat(key), ErrorCode.InvalidInput, 'key');
        await rejectsWith(store.exists(key), ErrorCode.InvalidInput, 'key');
        await rejectsWith(store.delete(key), ErrorCode.InvalidInput, 'key');
        await rejectsWith(store.presignedGetUrl(key), ErrorCode.InvalidInput, 'key');
        await rejectsWith(() => store.uri(key), ErrorCode.InvalidInput, 'key');
      }
      // Unicode keys within the limits are fine.
      const key = `${ns()}/ünïcode/名前.bin`;
      await store.put(key, Buffer.from('ok'));
      assert.equal(Buffer.from(await store.getBytes(key)).toString(), 'ok');
    });

    test('a body shorter or longer than size is rejected and leaves nothing behind', async () => {
      const prefix = ns();
      const short = `${prefix}/short`;
      await rejectsWith(
        store.put(short, streamOf([patternBytes(100_000, 1), patternBytes(50_000, 2)]), { size: 200_000 }),
        ErrorCode.InvalidInput,
        'body',
      );
      const long = `${prefix}/long`;
      await rejectsWith(
        store.put(long, streamOf([patternBytes(100_000, 1), patternBytes(100_000, 2), patternBytes(1, 3)]), { size: 200_000 }),
        ErrorCode.InvalidInput,
        'body',
      );
      // Exactly `size` bytes first, then more: the store must not have committed the first part.
      const exactThenMore = `${prefix}/exact-then-more`;
      await rejectsWith(
        store.put(exactThenMore, streamOf([patternBytes(1000, 1), patternBytes(10, 2)]), { size: 1000 }),
        ErrorCode.InvalidInput,
        'body',
      );
      if (fx.limitations?.keepsAbortedUploads) return;
      await sleep(50);
      for (const key of [short, long, exactThenMore]) assert.equal(await store.exists(key), undefined, `${key} must not exist`);
      assert.deepEqual((await store.list({ prefix })).items, []);
      if (fx.leftoverTempFiles) assert.deepEqual(await fx.leftoverTempFiles(), []);
    });

    test('a body stream that fails is rejected as the body’s fault and leaves nothing', async () => {
      const key = `${ns()}/broken`;
      const broken = Readable.from(
        (async function* () {
          yield patternBytes(10_000, 1);
          throw new Error('client went away');
        })(),
      );
      await rejectsWith(store.put(key, broken, { size: 20_000 }), ErrorCode.InvalidInput, 'body');
      if (fx.limitations?.keepsAbortedUploads) return;
      await sleep(50);
      assert.equal(await store.exists(key), undefined);
      if (fx.leftoverTempFiles) assert.deepEqual(await fx.leftoverTempFiles(), []);
    });

    test('a failed overwrite keeps the previous object', async () => {
      const key = `${ns()}/keep.bin`;
      const original = patternBytes(4000, 5);
      await store.put(key, original);
      await rejectsWith(store.put(key, streamOf([patternBytes(10, 1)]), { size: 20 }), ErrorCode.InvalidInput, 'body');
      if (fx.limitations?.keepsAbortedUploads) return;
      assert.deepEqual(Buffer.from(await store.getBytes(key)), original);
    });

    test('a ~10 MB object streams in and out without being held as one buffer', async () => {
      const key = `${ns()}/big.bin`;
      const total = 10 * 1024 * 1024 + 123;
      const chunk = 64 * 1024;
      const hashIn = createHash('sha256');
      const mark = fx.receivedBytes ? await fx.receivedBytes() : 0;
      // Halfway through, the body waits until the backend has received at least 1 MiB: a store
      // that buffered the whole body before writing would never get there.
      const gate = async (): Promise<void> => {
        if (!fx.receivedBytes) return;
        const deadline = Date.now() + 10_000;
        while ((await fx.receivedBytes()) - mark < 1024 * 1024) {
          if (Date.now() > deadline) throw new Error('store had not forwarded 1 MiB after 5 MiB of body: it buffers');
          await sleep(20);
        }
      };
      const result = await store.put(key, gatedStream(total, chunk, total / 2, gate, hashIn), { size: total });
      assert.equal(result.size, total);
      const out = await collect(await store.get(key));
      assert.equal(out.bytes.length, total);
      assert.equal(sha256(out.bytes), hashIn.digest('hex'));
      assert.ok(out.chunks > 10, `read arrived in ${out.chunks} chunks`);
      assert.ok(out.largestChunk <= 4 * 1024 * 1024, `largest chunk read was ${out.largestChunk} bytes`);
      const tail = await collect(await store.get(key, { offset: total - 1000 }));
      assert.equal(tail.bytes.length, 1000);
    });

    test('presigned GET URL gives the object bytes', async () => {
      const key = `${ns()}/signed.bin`;
      const data = patternBytes(5000, 9);
      await store.put(key, data);
      const url = await store.presignedGetUrl(key, 300);
      let fetched: Buffer;
      if (url.startsWith('file:')) {
        fetched = await readFile(fileURLToPath(url));
      } else {
        const res = await fetch(url);
        assert.equal(res.status, 200);
        fetched = Buffer.from(await res.arrayBuffer());
      }
      assert.deepEqual(fetched, data);
      await rejectsWith(store.presignedGetUrl(key, 0), ErrorCode.InvalidInput, 'expirySeconds');
      await rejectsWith(store.presignedGetUrl(key, 8 * 24 * 3600), ErrorCode.InvalidInput, 'expirySeconds');
    });

    test('uri names the key; ping succeeds', async () => {
      const key = `${ns()}/named.bin`;
      assert.ok(store.uri(key).endsWith(`/${key}`), store.uri(key));
      assert.ok(store.uri(key).startsWith(store.location), `${store.uri(key)} vs ${store.location}`);
      await store.ping();
    });
  });
}
