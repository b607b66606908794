import { Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Route label for requests that matched no route, so raw URLs never become label values. */
export const UNMATCHED_ROUTE = 'unmatched';

export interface HttpMetrics {
  registry: Registry;
  requestDuration: Histogram<'method' | 'route' | 'status'>;
}

/**
 * One registry per service (not prom-client's global one), so a process, or a test file, can
 * hold several services without "metric already registered" clashes.
 */
export function createHttpMetrics(): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by method, route template and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    // Up to two minutes: synchronous `?wait=true` calls can legitimately take that long.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  return { registry, requestDuration };
}
