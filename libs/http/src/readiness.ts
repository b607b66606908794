import { isWeightsmithError } from '@weightsmith/core';

export interface ReadinessCheck {
  /** Short name, reported when the check fails (e.g. `store`, `models`). */
  name: string;
  /** Resolves when ready; throws (or times out) when not. */
  check: () => Promise<void>;
}

export interface ReadinessResult {
  ready: boolean;
  failures: Array<{ name: string; message: string }>;
}

/**
 * Runs all checks at once, each bounded by `timeoutMs` (a hung store must not hang the probe).
 * Failure messages of WeightsmithErrors are reported; other errors only as "check failed", since
 * /readyz is unauthenticated and raw errors can name hosts and paths. `onError` sees every error.
 */
export async function runReadinessChecks(
  checks: readonly ReadinessCheck[],
  timeoutMs: number,
  onError: (name: string, err: unknown) => void = () => {},
): Promise<ReadinessResult> {
  const failures: ReadinessResult['failures'] = [];
  await Promise.all(
    checks.map(async ({ name, check }) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      try {
        const outcome = await Promise.race([check().then(() => 'ok' as const), timeout]);
        if (outcome === 'timeout') failures.push({ name, message: `timed out after ${timeoutMs} ms` });
      } catch (err) {
        onError(name, err);
        failures.push({ name, message: isWeightsmithError(err) ? err.message : 'check failed (see the service log)' });
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  failures.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { ready: failures.length === 0, failures };
}
