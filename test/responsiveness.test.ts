/**
 * A service stays responsive while a long inference runs: the run happens in the worker-thread
 * pool, so /healthz (and every other request) is answered before the inference finishes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { createService } from '@weightsmith/http';
import { GraphBuilder, InferencePool } from '@weightsmith/onnx';
import { Rng } from '@weightsmith/tensor';

/** x[n,n] → (MatMul W → Tanh) × layers: slow on purpose (≈ 2n³·layers FLOPs). */
function slowModel(n: number, layers: number): Uint8Array {
  const g = new GraphBuilder({ name: 'slow_chain' });
  let h = g.input('x', 'float32', [n, n]);
  const w = g.initializer('w', new Rng(1).uniformF32Array(n * n, -Math.sqrt(3 / n), Math.sqrt(3 / n)), [n, n]);
  for (let i = 0; i < layers; i++) h = g.tanh(g.matMul(h, w));
  g.output('y', 'float32', [n, n], { from: h });
  return g.toModelBytes();
}

test('/healthz answers while a long inference is running', async () => {
  const pool = new InferencePool({ threads: 1, intraOpNumThreads: 1 });
  const model = await pool.load(slowModel(512, 24), { name: 'slow' });
  const service = createService({ name: 'responsiveness', version: '0', config: { LOG_LEVEL: 'silent' } });
  const events: string[] = [];
  service.route({
    method: 'post',
    path: '/v1/infer',
    operationId: 'infer',
    summary: 'run the slow model',
    body: z.object({ seed: z.number().int() }),
    responses: { 200: { description: 'done', schema: z.object({ checksum: z.number() }) } },
    handler: async ({ body }) => {
      events.push('inference started');
      const x = new Rng(body.seed).uniformF32Array(512 * 512, -1, 1);
      const out = await pool.run(model, { x: { dtype: 'float32', dims: [512, 512], data: x } });
      events.push('inference finished');
      return { checksum: (out['y']!.data as Float32Array).reduce((s, v) => s + v, 0) };
    },
  });
  const server = await service.listen({ port: 0, host: '127.0.0.1', handleSignals: false });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const inference = fetch(`${base}/v1/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ seed: 3 }),
    });
    while (!events.includes('inference started')) await new Promise((r) => setTimeout(r, 5));
    let healthAnswers = 0;
    while (!events.includes('inference finished')) {
      const res = await fetch(`${base}/healthz`);
      assert.equal(res.status, 200);
      if (!events.includes('inference finished')) {
        healthAnswers++;
        events.push('healthz answered');
      }
    }
    const res = await inference;
    assert.equal(res.status, 200);
    assert.ok(Number.isFinite(((await res.json()) as { checksum: number }).checksum));
    // Health checks were answered between the start and the end of the inference.
    const started = events.indexOf('inference started');
    const finished = events.indexOf('inference finished');
    assert.ok(healthAnswers >= 2, `only ${healthAnswers} health checks answered during the inference`);
    assert.ok(events.indexOf('healthz answered') > started && events.indexOf('healthz answered') < finished);
  } finally {
    await service.close();
    await pool.close();
  }
});
