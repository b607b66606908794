/** Shared by the t2w HTTP tests: what the store holds, and waiting for a job to finish. */
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import assert from 'node:assert/strict';
import type request from 'supertest';
import { serializeSafetensors } from '@weightsmith/safetensors';

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

/** The fixture head layout (f 16, h 8, e 16): fc1.weight, fc1.bias, fc2.weight, fc2.bias. */
export const HEAD_NAMES = ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias'];
export const HEAD_SHAPES = [[8, 16], [8], [16, 8], [16]];

/** Uploads head tensors (F32, named in layout order) as a safetensors artifact; its id. */
export async function uploadHead(api: () => ReturnType<typeof request>, tensors: Float32Array[], shapes: number[][] = HEAD_SHAPES): Promise<string> {
  const bytes = await serializeSafetensors(tensors.map((data, i) => ({ name: HEAD_NAMES[i]!, dtype: 'F32' as const, shape: shapes[i]!, data })));
  const res = await api().post('/v1/artifacts?kind=safetensors').set('content-type', 'application/octet-stream').send(Buffer.from(bytes));
  assert.ok(res.status === 201 || res.status === 200, `upload: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}
