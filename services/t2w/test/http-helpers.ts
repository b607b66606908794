/** Shared by the t2w HTTP tests: what the store holds, and waiting for a job to finish. */
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type request from 'supertest';

export async function storeFiles(storeDir: string): Promise<string[]> {
  const entries = await readdir(storeDir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => relative(storeDir, join(e.parentPath, e.name))).sort();
}

export async function pollJob(api: () => ReturnType<typeof request>, location: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    const res = await api().get(location).expect(200);
    if (res.body.status === 'succeeded' || res.body.status === 'failed' || res.body.status === 'cancelled') return res.body as Record<string, unknown>;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${location} did not finish`);
}
