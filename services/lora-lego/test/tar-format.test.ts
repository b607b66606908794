import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWeightsmithError } from '@weightsmith/core';
import { memorySource } from '@weightsmith/safetensors';
import { BLOCK, encodeFileHeader, readTarIndex, serializeTar, subrangeSource } from '../src/tar/index.js';
import { openPeftAdapterTar, openPeftAdapterTarFile } from '../src/adapter/index.js';
import { Q, QB, enc, simpleAdapter } from './adapter-fixtures.js';

const index = (bytes: Uint8Array) => readTarIndex(memorySource(bytes), { label: 't' });
const badTar = async (bytes: Uint8Array, re: RegExp, code = 'invalid_format') =>
  assert.rejects(index(bytes), (e: unknown) => isWeightsmithError(e) && e.code === code && re.test(e.message));

/** Rewrites header fields of a block and fixes its checksum (unless `keepSum`). */
function patch(block: Uint8Array, at: number, bytes: Uint8Array | number[], keepSum = false): Uint8Array {
  const b = block.slice();
  b.fill(0, at, at + (at === 0 ? 100 : bytes.length));
  b.set(bytes, at);
  if (!keepSum) {
    b.fill(0x20, 148, 156);
    const sum = b.reduce((s, x) => s + x, 0);
    b.set(enc(sum.toString(8).padStart(6, '0')), 148);
    b[154] = 0;
  }
  return b;
}
function archive(...parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0) + 2 * BLOCK;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
const data = (s: string) => {
  const d = enc(s);
  const out = new Uint8Array(Math.ceil(d.length / BLOCK) * BLOCK);
  out.set(d);
  return out;
};

describe('deterministic tar writer', () => {
  test('header fields are fixed and the archive has the expected layout', async () => {
    const bytes = await serializeTar([
      { name: 'a.json', size: 3, body: enc('abc') },
      { name: 'b.bin', size: 600, body: () => [new Uint8Array(600).fill(7)] },
    ]);
    // 512 + 512 (3 bytes padded) + 512 + 1024 (600 padded) + 1024 end
    assert.equal(bytes.length, 512 * 7);
    const h = bytes.subarray(0, 512);
    const field = (at: number, len: number) => new TextDecoder().decode(h.subarray(at, at + len));
    assert.equal(field(0, 6), 'a.json');
    assert.equal(field(100, 8), '0000644\0');
    assert.equal(field(108, 8), '0000000\0');
    assert.equal(field(124, 12), '00000000003\0');
    assert.equal(field(136, 12), '00000000000\0');
    assert.equal(field(257, 8), 'ustar\u000000');
    assert.equal(field(265, 64), '\0'.repeat(64)); // uname, gname empty
    const entries = await index(bytes);
    assert.deepEqual(entries, [
      { name: 'a.json', offset: 512, size: 3 },
      { name: 'b.bin', offset: 1536, size: 600 },
    ]);
    const again = await serializeTar([
      { name: 'a.json', size: 3, body: enc('abc') },
      { name: 'b.bin', size: 600, body: () => [new Uint8Array(300).fill(7), new Uint8Array(300).fill(7)] },
    ]);
    assert.equal(createHash('sha256').update(again).digest('hex'), createHash('sha256').update(bytes).digest('hex'));
  });

  test('GNU tar lists and extracts what we write, byte for byte', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tar-w-'));
    try {
      const body = new Uint8Array(1000).map((_, i) => i % 251);
      await writeFile(join(dir, 'x.tar'), await serializeTar([{ name: 'adapter_model.safetensors', size: 1000, body }]));
      const listing = execFileSync('tar', ['tvf', join(dir, 'x.tar')], { encoding: 'utf8' });
      assert.match(listing, /^-rw-r--r-- 0\/0 +1000 1970-01-01 00:00 adapter_model\.safetensors/);
      execFileSync('tar', ['xf', 'x.tar'], { cwd: dir });
      assert.deepEqual(new Uint8Array(await readFile(join(dir, 'adapter_model.safetensors'))), body);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('rejects bad names and body size mismatches', async () => {
    await assert.rejects(serializeTar([{ name: '../x', size: 0, body: new Uint8Array(0) }]), /relative path/);
    await assert.rejects(serializeTar([{ name: 'x', size: 5, body: () => [new Uint8Array(3)] }]), /produced 3 bytes, declared 5/);
  });
});

describe('reading tars made by GNU tar', () => {
  for (const variant of [
    { name: 'flat, gnu format', args: ['--format=gnu'], folder: false },
    { name: 'in a folder, pax format', args: ['--format=pax'], folder: true },
    { name: 'in a folder, ustar format, ./ prefix', args: ['--format=ustar'], folder: true, dot: true },
  ]) {
    test(variant.name, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tar-r-'));
      try {
        const { config, weights } = await simpleAdapter();
        const where = variant.folder ? join(dir, 'my-adapter') : dir;
        await mkdir(where, { recursive: true });
        await writeFile(join(where, 'adapter_config.json'), JSON.stringify(config));
        await writeFile(join(where, 'adapter_model.safetensors'), weights);
        await writeFile(join(where, 'README.md'), '# notes');
        const members = variant.folder ? [variant.dot ? './my-adapter' : 'my-adapter'] : ['adapter_config.json', 'adapter_model.safetensors', 'README.md'];
        execFileSync('tar', ['cf', join(dir, 'a.tar'), ...variant.args, ...members], { cwd: dir });
        const adapter = await openPeftAdapterTarFile(join(dir, 'a.tar'));
        assert.deepEqual(adapter.modules.map((m) => m.name), [Q]);
        assert.deepEqual([...(await adapter.readModule(Q)).B], QB);
        await adapter.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  test('pax long names (> 100 bytes) and GNU long names are understood', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tar-l-'));
    try {
      const long = 'd'.repeat(120);
      await mkdir(join(dir, long));
      await writeFile(join(dir, long, 'f.txt'), 'hello');
      for (const format of ['pax', 'gnu']) {
        execFileSync('tar', ['cf', `${format}.tar`, `--format=${format}`, long], { cwd: dir });
        const bytes = new Uint8Array(await readFile(join(dir, `${format}.tar`)));
        const entries = await index(bytes);
        assert.equal(entries.length, 1);
        assert.equal(entries[0]!.name, `${long}/f.txt`);
        const src = subrangeSource(memorySource(bytes), entries[0]!.offset, entries[0]!.size);
        assert.equal(new TextDecoder().decode(await src.read(0, src.size)), 'hello');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a symlink made by GNU tar is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tar-s-'));
    try {
      await writeFile(join(dir, 'real'), 'x');
      await symlink('/etc/passwd', join(dir, 'adapter_config.json'));
      execFileSync('tar', ['cf', 's.tar', 'real', 'adapter_config.json'], { cwd: dir });
      await badTar(new Uint8Array(await readFile(join(dir, 's.tar'))), /"adapter_config.json" is a symbolic link/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('malicious and broken tars', () => {
  const good = encodeFileHeader('ok.txt', 2);
  test('".." path', () => badTar(archive(patch(good, 0, enc('../x')), data('hi')), /escapes the archive/));
  test('absolute path', () => badTar(archive(patch(good, 0, enc('/etc/x')), data('hi')), /absolute path/));
  test('hard link', () => badTar(archive(patch(good, 156, enc('1'))), /is a hard link/));
  test('character device', () => badTar(archive(patch(good, 156, enc('3'))), /is a character device/));
  test('bad checksum', () => badTar(archive(patch(good, 0, enc('other.txt'), true), data('hi')), /bad header checksum/));
  test('truncated data', () => badTar(archive(good).subarray(0, 600), /truncated archive/));
  test('truncated header', () => badTar(archive(good, data('hi'), good).subarray(0, 1024 + 100), /truncated archive: header at byte 1024/));
  test('duplicate names (also after normalisation)', () =>
    badTar(archive(good, data('hi'), patch(good, 0, enc('./ok.txt')), data('hi')), /"ok.txt" appears more than once/));
  test('huge declared size', () => badTar(archive(patch(good, 124, enc('77777777777\0'))), /declares 8589934591 bytes/));
  test('size cap', async () => {
    await assert.rejects(readTarIndex(memorySource(archive(good, data('hi'))), { maxFileBytes: 1 }), (e: unknown) => isWeightsmithError(e, 'too_large'));
  });
  test('malformed pax record', () => badTar(archive(patch(patch(good, 156, enc('x')), 124, enc('00000000012\0')), data('garbage!!\n')), /malformed pax extended header record/));
  test('pax header overrides name and size of the next entry', async () => {
    const rec = '20 path=renamed.bin\n';
    const entries = await index(archive(patch(patch(good, 156, enc('x')), 124, enc(`${(rec.length).toString(8).padStart(11, '0')}\0`)), data(rec), good, data('hi')));
    assert.deepEqual(entries, [{ name: 'renamed.bin', offset: 1536, size: 2 }]);
  });
  test('not a tar at all', () => badTar(new Uint8Array(2048).fill(65), /not a tar archive/));
  test('an adapter tar without the weights file', async () => {
    const { config } = await simpleAdapter();
    const c = enc(JSON.stringify(config));
    const bytes = await serializeTar([{ name: 'adapter_config.json', size: c.length, body: c }]);
    await assert.rejects(openPeftAdapterTar(memorySource(bytes)), /has adapter_config.json but no adapter_model.safetensors/);
  });
});
