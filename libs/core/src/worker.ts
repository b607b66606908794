import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread on a module URL. Node 20 does not apply the parent's `--import tsx`
 * to a worker's entry, so a `.ts` entry (running from source) is started through a bootstrap
 * that registers tsx inside the worker first; a `.js` entry starts directly.
 */
export function startModuleWorker(url: URL, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, options);
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/** The URL of a sibling module with this file's extension (`.ts` from source, `.js` compiled). */
export function siblingModuleUrl(base: string, name: string): URL {
  const ext = base.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, base);
}
