/**
 * The CLI's output folder appears whole or not at all: files are written into a sibling
 * `DIR.tmp-<pid>` and the folder is renamed into place, so a crash, Ctrl-C or a bad module
 * half-way leaves no half-adapter where a pipeline would pick it up. An existing non-empty
 * folder is replaced only with `--force`.
 */
import { readdir, rename, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';

export type FolderState = 'absent' | 'empty' | 'non-empty';

async function folderState(dir: string, flag: string): Promise<FolderState> {
  let info;
  try {
    info = await stat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
  if (!info.isDirectory()) throw invalidInput(flag, `${dir} exists and is not a folder`);
  return (await readdir(dir)).length === 0 ? 'empty' : 'non-empty';
}

function notEmpty(dir: string): WeightsmithError {
  return new WeightsmithError(ErrorCode.Conflict, `${dir} exists and is not empty; choose another --out or pass --force to replace it`, {
    field: 'out',
  });
}

/** Fails early (before any work) if `dir` could not be written without `--force`. */
export async function checkOutputFolder(dir: string, force: boolean): Promise<void> {
  const state = await folderState(dir, 'out');
  if (state === 'non-empty' && !force) throw notEmpty(dir);
}

/**
 * Calls `fill(tmp)` to write the folder's files into a temporary sibling, then renames it to
 * `dir`. On any failure the temporary folder is removed and `dir` is left as it was.
 */
export async function writeFolderAtomically<T>(dir: string, force: boolean, fill: (tmp: string) => Promise<T>): Promise<T> {
  // resolve() drops a trailing slash, so the temp folder is a sibling, not a child.
  const target = resolve(dir);
  const tmp = `${target}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(dirname(target), { recursive: true });
  try {
    const result = await fill(tmp);
    const state = await folderState(target, 'out');
    if (state === 'non-empty') {
      if (!force) throw notEmpty(dir);
      const old = `${target}.old-${process.pid}`;
      await rename(target, old);
      try {
        await rename(tmp, target);
      } catch (err) {
        await rename(old, target).catch(() => undefined);
        throw err;
      }
      await rm(old, { recursive: true, force: true });
    } else {
      // rename(2) replaces an empty folder atomically.
      await rename(tmp, target);
    }
    return result;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Writes a small file (the report) via a temporary name and rename. */
export async function writeFileAtomically(path: string, data: string | Uint8Array): Promise<void> {
  const target = resolve(path);
  const tmp = `${target}.tmp-${process.pid}`;
  await mkdir(dirname(target), { recursive: true });
  try {
    await writeFile(tmp, data);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
