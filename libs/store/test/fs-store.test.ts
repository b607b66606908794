import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import { FsStore, mapFsError } from '../src/fs-store.js';
import { runObjectStoreContract } from './contract.js';
import { rejectsWith } from './helpers.js';

async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'ws-fsstore-'));
}

async function sizeOfFiles(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    total += (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

runObjectStoreContract('FsStore', async () => {
  const root = await tempRoot();
  const store = await new FsStore({ root }).init();
  // What sits in temp files right now: an in-flight put's bytes before it is renamed into place.
  return {
    store,
    receivedBytes: () => sizeOfFiles(join(root, '.tmp')),
    leftoverTempFiles: () => readdir(join(root, '.tmp')),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

runObjectStoreContract('FsStore with a prefix', async () => {
  const root = await tempRoot();
  const store = await new FsStore({ root, prefix: '/deploy-a/' }).init();
  return {
    store,
    leftoverTempFiles: () => readdir(join(root, '.tmp')),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

describe('FsStore (folder specifics)', () => {
  test('objects are plain files under root/prefix; the prefix isolates deployments', async () => {
    const root = await tempRoot();
    try {
      const a = await new FsStore({ root, prefix: 'team-a' }).init();
      const b = await new FsStore({ root, prefix: 'team-b' }).init();
      await a.put('x/y.bin', Buffer.from('from a'));
      assert.equal(await readFile(join(root, 'team-a', 'x', 'y.bin'), 'utf8'), 'from a');
      assert.equal(await b.exists('x/y.bin'), undefined);
      assert.deepEqual((await b.list()).items, []);
      assert.equal(a.location, `file://${root}/team-a`);
      assert.equal(a.uri('x/y.bin'), `file://${root}/team-a/x/y.bin`);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('the temp folder and hidden or foreign entries are never listed', async () => {
    const root = await tempRoot();
    try {
      const store = await new FsStore({ root }).init();
      await store.put('visible', Buffer.from('v'));
      await writeFile(join(root, '.tmp', 'in-flight.part'), 'partial');
      await mkdir(join(root, '.git'));
      await writeFile(join(root, '.git', 'config'), 'x');
      await writeFile(join(root, '.hidden'), 'x');
      await writeFile(join(root, 'back\\slash'), 'x');
      await symlink(join(root, 'visible'), join(root, 'link-to-visible'));
      assert.deepEqual((await store.list()).items.map((i) => i.key), ['visible']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('a symlink inside the root that points outside is not followed for reads or writes', async () => {
    const root = await tempRoot();
    const outside = await tempRoot();
    try {
      const store = await new FsStore({ root }).init();
      await writeFile(join(outside, 'secret'), 'outside data');
      await symlink(outside, join(root, 'escape')); // folder link
      await symlink(join(outside, 'secret'), join(root, 'secret-link')); // file link

      await rejectsWith(store.getBytes('escape/secret'), ErrorCode.InvalidInput, 'key');
      await rejectsWith(store.getBytes('secret-link'), ErrorCode.InvalidInput, 'key');
      await rejectsWith(store.stat('escape/secret'), ErrorCode.InvalidInput, 'key');
      await rejectsWith(store.put('escape/new-file', Buffer.from('x')), ErrorCode.InvalidInput, 'key');
      await rejectsWith(store.put('escape/deeper/new-file', Buffer.from('x')), ErrorCode.InvalidInput, 'key');
      await rejectsWith(store.put('secret-link', Buffer.from('x'), { ifNoneMatch: true }), ErrorCode.InvalidInput, 'key');
      await rejectsWith(store.delete('escape/secret'), ErrorCode.InvalidInput, 'key');

      assert.deepEqual(await readdir(outside), ['secret'], 'nothing created outside the root');
      assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'outside data');
      // A plain overwrite replaces the link itself (rename does not follow it): the outside file stays.
      await store.put('secret-link', Buffer.from('inside now'));
      assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'outside data');
      assert.equal(Buffer.from(await store.getBytes('secret-link')).toString(), 'inside now');
    } finally {
      await rm(root, { recursive: true, force: true });
      await rm(outside, { recursive: true, force: true });
    }
  });

  test('a symlink that stays inside the root is followed', async () => {
    const root = await tempRoot();
    try {
      const store = await new FsStore({ root }).init();
      await store.put('real/data.bin', Buffer.from('inside'));
      await symlink(join(root, 'real'), join(root, 'alias'));
      assert.equal(Buffer.from(await store.getBytes('alias/data.bin')).toString(), 'inside');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('a key cannot be both an object and a prefix (conflict)', async () => {
    const root = await tempRoot();
    try {
      const store = await new FsStore({ root }).init();
      await store.put('a', Buffer.from('object'));
      await rejectsWith(store.put('a/b', Buffer.from('x')), ErrorCode.Conflict, 'key');
      await store.put('p/q', Buffer.from('x'));
      await rejectsWith(store.put('p', Buffer.from('x')), ErrorCode.Conflict, 'key');
      await rejectsWith(store.put('p', Buffer.from('x'), { ifNoneMatch: true }), ErrorCode.Conflict, 'key');
      await rejectsWith(store.stat('a/b'), ErrorCode.NotFound, 'key');
      assert.deepEqual(await readdir(join(root, '.tmp')), []);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('init creates the root and removes day-old temp files only', async () => {
    const parent = await tempRoot();
    const root = join(parent, 'new', 'root');
    try {
      await new FsStore({ root }).init();
      const stale = join(root, '.tmp', 'stale.part');
      const fresh = join(root, '.tmp', 'fresh.part');
      await writeFile(stale, 'x');
      await writeFile(fresh, 'x');
      const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
      await utimes(stale, twoDaysAgo, twoDaysAgo);
      await new FsStore({ root }).init();
      assert.deepEqual(await readdir(join(root, '.tmp')), ['fresh.part']);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  test('delete prunes folders it leaves empty, never the base folder', async () => {
    const root = await tempRoot();
    try {
      const store = await new FsStore({ root, prefix: 'base' }).init();
      await store.put('a/b/c/d', Buffer.from('x'));
      await store.put('a/keep', Buffer.from('x'));
      await store.delete('a/b/c/d');
      assert.deepEqual(await readdir(join(root, 'base', 'a')), ['keep']);
      await store.delete('a/keep');
      assert.deepEqual(await readdir(join(root, 'base')), []);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('outage: a removed root makes every operation store_unavailable (not not_found)', async () => {
    const root = await tempRoot();
    const store = await new FsStore({ root }).init();
    await store.put('x', Buffer.from('x'));
    await rm(root, { recursive: true, force: true });
    const ops: Array<[string, () => Promise<unknown>]> = [
      ['put', () => store.put('y', Buffer.from('y'))],
      ['put ifNoneMatch', () => store.put('y', Buffer.from('y'), { ifNoneMatch: true })],
      ['get', () => store.get('x')],
      ['getBytes', () => store.getBytes('x')],
      ['stat', () => store.stat('x')],
      ['exists', () => store.exists('x')],
      ['list', () => store.list()],
      ['delete', () => store.delete('x')],
      ['ping', () => store.ping()],
    ];
    for (const [name, op] of ops) {
      await assert.rejects(op, (err: unknown) => {
        assert.ok(isWeightsmithError(err, ErrorCode.StoreUnavailable), `${name}: ${String(err)}`);
        assert.ok((err.retryAfter ?? 0) > 0, `${name}: retryAfter`);
        return true;
      });
    }
    // The store does not silently re-create a vanished root (it may be an unmounted volume).
    await assert.rejects(stat(root));
  });

  test('outage: a root replaced by a file makes operations store_unavailable', async () => {
    const parent = await tempRoot();
    const root = join(parent, 'root');
    try {
      const store = await new FsStore({ root }).init();
      await rm(root, { recursive: true });
      await writeFile(root, 'not a folder');
      for (const op of [() => store.put('a', Buffer.from('a')), () => store.getBytes('a'), () => store.list(), () => store.ping()]) {
        await rejectsWith(op, ErrorCode.StoreUnavailable);
      }
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  test('errno mapping: disk full and I/O errors are store_unavailable with retryAfter', () => {
    const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: simulated`), { code });
    for (const code of ['ENOSPC', 'EDQUOT', 'EIO', 'EACCES', 'EROFS', 'EMFILE']) {
      const mapped = mapFsError(errno(code), 'writing', 7);
      assert.equal(mapped.code, ErrorCode.StoreUnavailable, code);
      assert.equal(mapped.retryAfter, 7, code);
      assert.match(mapped.message, new RegExp(code));
    }
    assert.match(mapFsError(errno('ENOSPC'), 'writing').message, /out of space/);
    assert.equal(mapFsError(errno('ENAMETOOLONG'), 'writing').code, ErrorCode.InvalidInput);
    assert.equal(mapFsError(new Error('weird'), 'writing').code, ErrorCode.Internal);
  });

  test('constructor rejects a missing root', () => {
    assert.throws(() => new FsStore({ root: '' }), (err: unknown) => isWeightsmithError(err, ErrorCode.InvalidInput));
    assert.throws(() => new FsStore({ root: '/x', prefix: '../up' }), (err: unknown) => isWeightsmithError(err, ErrorCode.InvalidInput));
  });
});

describe('FsStore init', () => {
  test('a root that is a file is store_unavailable at init', async () => {
    const parent = await tempRoot();
    try {
      await writeFile(join(parent, 'file'), 'x');
      await rejectsWith(new FsStore({ root: join(parent, 'file') }).init(), ErrorCode.StoreUnavailable);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});
