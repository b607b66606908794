import { ErrorCode, WeightsmithError, siblingModuleUrl, startModuleWorker, type ErrorCode as Code } from '@weightsmith/core';
import type { TaskWorkerData, TaskWorkerMessage } from './protocol.js';

/**
 * Runs one task in a fresh worker thread and resolves with its result. Progress is forwarded;
 * aborting the signal terminates the worker (its partial work is never stored: artifacts are
 * committed by their manifest, written last). Errors come back as the WeightsmithError the
 * task raised, so the job shows the same problem a synchronous call would.
 */
export function runTaskInWorker<R>(
  data: TaskWorkerData,
  hooks: { progress?: (fraction: number, message: string) => void; signal?: AbortSignal } = {},
): Promise<R> {
  hooks.signal?.throwIfAborted();
  const worker = startModuleWorker(siblingModuleUrl(import.meta.url, 'task-worker'), { workerData: data });
  return new Promise<R>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      hooks.signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      fn();
    };
    const onAbort = (): void => {
      void worker.terminate();
      finish(() => reject(new WeightsmithError(ErrorCode.Cancelled, `${data.task} cancelled`)));
    };
    hooks.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (m: TaskWorkerMessage) => {
      if (m.type === 'progress') hooks.progress?.(m.fraction, m.message);
      else if (m.type === 'result') finish(() => resolve(m.result as R));
      else {
        const { code, message, field, issues, retryAfter, stack } = m.error;
        const err = new WeightsmithError(code as Code, message, {
          ...(field === undefined ? {} : { field }),
          ...(issues === undefined ? {} : { issues }),
          ...(retryAfter === undefined ? {} : { retryAfter }),
        });
        if (stack) err.stack = stack;
        finish(() => reject(err));
      }
    });
    worker.on('error', (err) => finish(() => reject(new WeightsmithError(ErrorCode.Internal, `${data.task} worker failed: ${err.message}`, { cause: err }))));
    worker.on('exit', (code) => {
      const fail = (): void => finish(() => reject(new WeightsmithError(ErrorCode.Internal, `${data.task} worker exited (code ${code}) without a result`)));
      // A worker that finished normally may still have its last message in flight: give the
      // port a moment to deliver it before calling the exit a failure.
      if (code === 0) setTimeout(fail, 250).unref();
      else fail();
    });
  });
}
