/**
 * Opens the adapter a `--adapter` flag names: a PEFT folder, or a tar of one (as
 * `GET /v1/adapters/{id}` returns it). Failures name the flag and its position, so
 * `--adapter a --adapter b` says which of the two is wrong.
 */
import { stat } from 'node:fs/promises';
import { ErrorCode, WeightsmithError, isWeightsmithError, invalidInput } from '@weightsmith/core';
import { openPeftAdapterFolder, openPeftAdapterTarFile, type PeftAdapter } from '../adapter/index.js';

/** `index` is 0-based; errors carry field `adapters.<index>.ref` (shown as `--adapter #<index+1>`). */
export async function openAdapterArg(path: string, index: number): Promise<PeftAdapter> {
  const field = `adapters.${index}.ref`;
  let info;
  try {
    info = await stat(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new WeightsmithError(ErrorCode.NotFound, `${path} does not exist`, { field, cause });
    if (code === 'EACCES') throw invalidInput(field, `${path} cannot be read (permission denied)`);
    throw cause;
  }
  try {
    if (info.isDirectory()) return await openPeftAdapterFolder(path);
    if (info.isFile()) return await openPeftAdapterTarFile(path);
  } catch (err) {
    if (!isWeightsmithError(err)) throw err;
    // Keep the reader's code and message (they name the file and tensor); point at the flag.
    throw new WeightsmithError(err.code, err.message, { field, cause: err });
  }
  throw invalidInput(field, `${path} is neither a folder nor a file`);
}

/** Opens all adapters; if one fails, the ones already open are closed. */
export async function openAdapterArgs(paths: readonly string[]): Promise<PeftAdapter[]> {
  const opened: PeftAdapter[] = [];
  try {
    for (const [i, path] of paths.entries()) opened.push(await openAdapterArg(path, i));
    return opened;
  } catch (err) {
    await closeAll(opened);
    throw err;
  }
}

export async function closeAll(adapters: readonly PeftAdapter[]): Promise<void> {
  await Promise.allSettled(adapters.map((a) => a.close()));
}
