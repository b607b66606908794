import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';

/** SHA-256 of one file, streamed (ONNX files of real models are hundreds of MB). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Identity of a set of files under `dir`: `sha256:<hex>` over the lines `<relPath>\0<sha256>\n`
 * in the given order. Paths are part of it so that swapping two files' contents changes the id;
 * the folder's own location is not, so copies of a model share one id.
 */
export async function digestFiles(dir: string, relPaths: readonly string[]): Promise<string> {
  const outer = createHash('sha256');
  for (const rel of relPaths) outer.update(`${rel}\0${await sha256File(join(dir, rel))}\n`);
  return `sha256:${outer.digest('hex')}`;
}
