import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, invalidInput, WeightsmithError } from '@weightsmith/core';
import type { ObjectStat, ObjectStore } from '@weightsmith/store';

/**
 * Local copies of object-store prefixes, for libraries (transformers.js, onnxruntime) that only
 * read files. Each copy lives in `<cacheDir>/<digest>`, where the digest covers the store's
 * location, the prefix and every copied object's key, size and ETag: a changed object gives a
 * new folder, an unchanged one is reused without downloading. A copy is written into a
 * temporary sibling folder and renamed into place, so a folder under its final name is always
 * complete, and two processes copying the same prefix at once both end up with one good copy.
 */

export interface PrefixCopyOptions {
  /** Folder holding the copies (created when missing). */
  cacheDir: string;
  /**
   * Chooses which of the prefix's objects to copy, given their paths relative to the prefix.
   * It may throw to reject the prefix (e.g. a required file is missing); nothing is written then.
   */
  select: (relPaths: readonly string[]) => readonly string[];
}

export interface PrefixCopy {
  /** The local folder; object `<prefix><rel>` is file `<dir>/<rel>`. */
  dir: string;
  /** The copied relative paths. */
  files: string[];
  /** False when an existing copy was reused. */
  downloaded: boolean;
}

/**
 * Human-readable location of a prefix. `store.uri` validates its argument as an object key, and a
 * prefix (trailing '/', or '') is not one.
 */
export function prefixUri(store: ObjectStore, prefix: string): string {
  return `${store.location.replace(/\/+$/, '')}/${prefix}`;
}

/** `a/b` → `a/b/`; '' stays '' (the whole store). Rejects absolute and `..` prefixes. */
export function normalizePrefix(prefix: string): string {
  if (prefix === '') return '';
  if (prefix.startsWith('/') || prefix.split('/').some((part) => part === '..' || part === '.')) {
    throw invalidInput('prefix', `object-store prefix "${prefix}" must be relative, without "." or ".." segments`);
  }
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

export async function copyStorePrefix(store: ObjectStore, prefix: string, options: PrefixCopyOptions): Promise<PrefixCopy> {
  const base = normalizePrefix(prefix);
  const listed = await listAll(store, base);
  const byRel = new Map<string, ObjectStat>();
  for (const item of listed) byRel.set(item.key.slice(base.length), item);

  const files = [...options.select([...byRel.keys()])];
  for (const rel of files) {
    if (!byRel.has(rel)) throw invalidInput('select', `selected "${rel}", which is not under ${prefixUri(store, base)}`);
    if (rel === '' || rel.startsWith('/') || rel.split('/').includes('..')) {
      throw invalidInput('prefix', `object key ${base}${rel} cannot be copied to a local file`);
    }
  }

  const fingerprint = createHash('sha256');
  fingerprint.update(`${store.location}\0${base}\n`);
  for (const rel of [...files].sort()) {
    const s = byRel.get(rel)!;
    fingerprint.update(`${rel}\0${s.size}\0${s.etag}\n`);
  }
  const digest = fingerprint.digest('hex').slice(0, 32);
  const dir = join(options.cacheDir, digest);
  if (await isDirectory(dir)) return { dir, files, downloaded: false };

  await mkdir(options.cacheDir, { recursive: true });
  const tmp = join(options.cacheDir, `.partial-${digest}-${randomUUID()}`);
  try {
    for (const rel of files) {
      const expected = byRel.get(rel)!.size;
      const target = join(tmp, rel);
      await mkdir(dirname(target), { recursive: true });
      await pipeline(await store.get(base + rel), createWriteStream(target));
      const written = (await stat(target)).size;
      if (written !== expected) {
        throw new WeightsmithError(
          ErrorCode.Conflict,
          `object ${store.uri(base + rel)} changed while it was copied (listed ${expected} bytes, read ${written}); retry`,
          { field: rel },
        );
      }
    }
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another copier finished first: its folder is complete, keep it and drop ours.
      if (!(await isDirectory(dir))) throw err;
      await rm(tmp, { recursive: true, force: true });
    }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return { dir, files, downloaded: true };
}

async function listAll(store: ObjectStore, prefix: string): Promise<ObjectStat[]> {
  const items: ObjectStat[] = [];
  let token: string | undefined;
  do {
    const page = await store.list(token === undefined ? { prefix } : { prefix, token });
    items.push(...page.items);
    token = page.nextToken;
  } while (token !== undefined);
  return items;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}
