import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

const created: string[] = [];
// Registered once at import (top level), so it runs after every test of the importing file;
// an `after` registered inside a `before` hook would run as soon as that hook's suite step ends.
after(() => Promise.all(created.map((dir) => rm(dir, { recursive: true, force: true }))));

/** A fresh temporary folder, removed when the test file's tests are done. */
export async function tempDir(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `weightsmith-text-${label}-`));
  created.push(dir);
  return dir;
}
