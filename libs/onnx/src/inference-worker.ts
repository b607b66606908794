/**
 * Entry point of an InferencePool worker thread: a per-worker SessionCache (each model is loaded
 * once per worker) and a loop answering load/run requests. `session.run()` blocks this thread's
 * event loop, which is the point: the main thread's stays free.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ErrorCode, WeightsmithError } from '@weightsmith/core';
import { SessionCache, type CachedSession } from './session-cache.js';
import { fromOrtTensor, toOrtTensor, transferList, type TensorMap } from './tensor-data.js';
import type { SerializedError, WorkerInit, WorkerRequest, WorkerResponse } from './worker-protocol.js';

const port = parentPort;
if (port === null) throw new Error('inference-worker.ts must run in a worker thread (it is started by InferencePool)');

const init = workerData as WorkerInit;
const cache = new SessionCache({ ...init.session, maxSessions: init.maxSessions });

function reply(msg: WorkerResponse, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

function serializeError(err: unknown): SerializedError {
  if (err instanceof WeightsmithError) return { code: err.code, message: err.message, field: err.field, issues: err.issues };
  const message = err instanceof Error ? err.message : String(err);
  return { code: ErrorCode.Internal, message, field: undefined, issues: [] };
}

async function run(s: CachedSession, feeds: TensorMap, outputNames: string[] | undefined, name: string): Promise<TensorMap> {
  const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, toOrtTensor(t)]));
  let results;
  try {
    results = outputNames === undefined ? await s.session.run(ortFeeds) : await s.session.run(ortFeeds, outputNames);
  } catch (err) {
    // Inputs were checked against the model's declared types and shapes before they got here, so
    // what is left is data-dependent (an index out of range, a reshape that does not fit).
    const message = err instanceof Error ? err.message : String(err);
    throw new WeightsmithError(ErrorCode.InvalidInput, `onnxruntime could not run model '${name}' on these inputs: ${message}`, {
      field: 'feeds',
      cause: err,
    });
  }
  const out: TensorMap = {};
  for (const [k, t] of Object.entries(results)) {
    out[k] = fromOrtTensor(k, t);
    t.dispose();
  }
  return out;
}

async function handle(msg: WorkerRequest): Promise<void> {
  if (msg.type === 'unload') {
    // Nobody waits for an unload; a failed release must not take the worker down.
    await cache.delete(msg.key).catch(() => undefined);
    return;
  }
  try {
    const opts = { key: msg.key, name: msg.name };
    if (msg.type === 'load') {
      const s = await cache.get(msg.source, opts);
      reply({ type: 'result', id: msg.id, ok: true, value: { inputs: [...s.inputs], outputs: [...s.outputs] } });
    } else {
      const out = await cache.use(msg.source, (s) => run(s, msg.feeds, msg.outputNames, msg.name), opts);
      reply({ type: 'result', id: msg.id, ok: true, value: out }, transferList(out));
    }
  } catch (err) {
    reply({ type: 'result', id: msg.id, ok: false, error: serializeError(err) });
  }
}

port.on('message', (msg: WorkerRequest) => void handle(msg));
reply({ type: 'ready' });
