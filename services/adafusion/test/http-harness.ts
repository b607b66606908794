/**
 * Shared by the AdaFusion HTTP tests: a service on a temp folder store, a tiny synthetic cohort
 * written as users' files and uploaded as artifacts, the registration body built from the upload
 * ids, what the store holds, and job polling.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import request from 'supertest';
import { startService, type RunningService } from '@weightsmith/http';
import { definition, type AdaFusionConfig } from '../src/service.js';
import { writeSyntheticCohort, type SyntheticCohortOptions, type WrittenSyntheticCohort } from '../src/synthetic/index.js';

export interface Harness {
  tmp: string;
  storeDir: string;
  running: RunningService<AdaFusionConfig>;
  api: () => ReturnType<typeof request>;
  close(): Promise<void>;
}

export async function startHarness(env: Record<string, string> = {}): Promise<Harness> {
  const tmp = await mkdtemp(join(tmpdir(), 'adafusion-http-'));
  const storeDir = join(tmp, 'store');
  const running = await startService(definition, {
    env: { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', STORE_DIR: storeDir, ORT_INTRA_OP_THREADS: '1', ...env },
    handleSignals: false,
  });
  return {
    tmp,
    storeDir,
    running,
    api: () => request(running.server),
    close: async () => {
      await running.close();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}

/** Two models (A: 16 dims, B: 12), two phenotypes, two classes: small enough for seconds-long fits. */
export const TINY: SyntheticCohortOptions = {
  seed: 5,
  slides: 8,
  tilesPerSlide: 24,
  models: [
    { name: 'A', dim: 16 },
    { name: 'B', dim: 12 },
  ],
};

/** A fit configuration that finishes in about a second on this machine. */
export const TINY_CONFIG = {
  d: 4,
  context: { kind: 'centroids', count: 2 },
  head: { hidden: 8 },
  optimizer: { maxEpochs: 3, tilesPerStep: 16, lr: 0.01 },
  pcaSampleTiles: 64,
  kmeansSampleTiles: 64,
  seed: 3,
} as const;

export interface UploadedCohort {
  written: WrittenSyntheticCohort;
  dir: string;
  /** model → slide → artifact id. */
  ids: Map<string, Map<string, string>>;
  labelsCsv: string;
}

export async function uploadBytes(h: Harness, bytes: Uint8Array, kind: string): Promise<string> {
  const res = await h.api().post(`/v1/artifacts?kind=${kind}`).set('Content-Type', 'application/octet-stream').send(Buffer.from(bytes));
  if (res.status !== 201 && res.status !== 200) throw new Error(`upload failed: ${res.status} ${JSON.stringify(res.body)}`);
  return (res.body as { id: string }).id;
}

export async function writeAndUpload(h: Harness, name: string, options: SyntheticCohortOptions, format: 'h5' | 'safetensors' = 'h5'): Promise<UploadedCohort> {
  const dir = join(h.tmp, name);
  const written = await writeSyntheticCohort(dir, options, { format });
  const ids = new Map<string, Map<string, string>>();
  for (const model of options.models) {
    const bySlide = new Map<string, string>();
    for (const slide of written.cohort.slideIds) {
      const bytes = await readFile(join(dir, model.name, `${slide}.${format}`));
      bySlide.set(slide, await uploadBytes(h, bytes, format === 'h5' ? 'h5' : 'safetensors'));
    }
    ids.set(model.name, bySlide);
  }
  return { written, dir, ids, labelsCsv: await readFile(join(dir, 'labels.csv'), 'utf8') };
}

export function registration(c: UploadedCohort, name = 'tiny'): { name: string; task: 'classification'; models: { name: string }[]; slides: { id: string; features: Record<string, string> }[]; labels: string } {
  const models = [...c.ids.keys()];
  return {
    name,
    task: 'classification',
    models: models.map((name) => ({ name })),
    slides: c.written.cohort.slideIds.map((id) => ({ id, features: Object.fromEntries(models.map((m) => [m, c.ids.get(m)!.get(id)!])) })),
    labels: c.labelsCsv,
  };
}

export async function storeFiles(storeDir: string): Promise<string[]> {
  const entries = await readdir(storeDir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => relative(storeDir, join(e.parentPath, e.name))).sort();
}

export async function pollJob(api: () => ReturnType<typeof request>, location: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 1200; i++) {
    const res = await api().get(location).expect(200);
    if (res.body.status === 'succeeded' || res.body.status === 'failed' || res.body.status === 'cancelled') return res.body as Record<string, unknown>;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${location} did not finish`);
}
