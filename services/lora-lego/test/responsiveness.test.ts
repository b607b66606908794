/** A merge computes in a worker thread: the service answers /healthz while it runs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startService } from '@weightsmith/http';
import { definition } from '../src/service.js';
import { llamaModules, writeSyntheticAdapters } from '../src/synthetic.js';

test('/healthz answers while a dense merge is computing', async () => {
  const root = await mkdtemp(join(tmpdir(), 'lora-lego-busy-'));
  const svc = await startService(definition, { env: { STORE_DIR: join(root, 'store'), PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' }, handleSignals: false });
  try {
    const dirs = await writeSyntheticAdapters(join(root, 'in'), {
      count: 2,
      rank: 8,
      alpha: 16,
      modules: llamaModules(1, 1024, 2048),
      dtype: 'F32',
      baseModel: 'test/base',
      seed: 'busy',
    });
    const base = `http://127.0.0.1:${(svc.server.address() as AddressInfo).port}`;
    const ids: string[] = [];
    for (const dir of dirs) {
      execFileSync('tar', ['cf', `${dir}.tar`, '-C', dir, 'adapter_config.json', 'adapter_model.safetensors']);
      const res = await fetch(`${base}/v1/adapters`, { method: 'POST', headers: { 'content-type': 'application/x-tar' }, body: await readFile(`${dir}.tar`) });
      ids.push(((await res.json()) as { id: string }).id);
    }
    let finished = false;
    const merge = fetch(`${base}/v1/merges?wait=true`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ adapters: ids.map((ref) => ({ ref })), method: 'ties', k: 8 }),
    }).then((r) => {
      finished = true;
      return r;
    });
    let answered = 0;
    while (!finished) {
      const res = await fetch(`${base}/healthz`);
      assert.equal(res.status, 200);
      if (!finished) answered++;
      await new Promise((r) => setTimeout(r, 20));
    }
    const res = await merge;
    assert.equal(res.status, 200);
    // Were the merge on the event loop, checks could only slip in between its 7 modules.
    assert.ok(answered >= 20, `only ${answered} health checks were answered during the merge`);
    console.log(`# ${answered} health checks answered during the merge`);
  } finally {
    await svc.close();
    await rm(root, { recursive: true, force: true });
  }
});
