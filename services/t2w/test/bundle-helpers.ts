/** Edits of a bundle folder for tests: its manifest, or its denoiser with a matching sha256. */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function editManifest(dir: string, edit: (m: Record<string, any>) => void): Promise<void> {
  const m = JSON.parse(await readFile(join(dir, 'bundle.json'), 'utf8'));
  edit(m);
  await writeFile(join(dir, 'bundle.json'), JSON.stringify(m));
}

/** Replaces denoiser.onnx and records its sha256, so only the contract (or what follows) can fail. */
export async function replaceDenoiser(dir: string, bytes: Uint8Array): Promise<void> {
  await writeFile(join(dir, 'denoiser.onnx'), bytes);
  await editManifest(dir, (m) => (m.denoiser.sha256 = createHash('sha256').update(bytes).digest('hex')));
}
