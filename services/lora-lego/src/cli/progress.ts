/**
 * Progress on stderr. On a terminal: one line redrawn in place (`\r`), at most ~10 times a
 * second. Elsewhere (CI logs, `2> file`): a plain line at every 10 % step or every 30 s, so
 * logs stay short but show that the job is alive.
 */

export interface ProgressSink {
  write(text: string): unknown;
  /** True when the sink is a terminal (`process.stderr.isTTY`). */
  isTTY?: boolean;
  /** Terminal width, to keep the redrawn line on one row. */
  columns?: number;
}

export interface Progress {
  /** `fraction` in [0, 1]; `message` says what was just done. */
  update(fraction: number, message: string): void;
  /** Ends the progress display (the terminal line gets its newline). */
  done(message?: string): void;
}

export interface ProgressOptions {
  quiet?: boolean;
  /** Clock in ms (tests pass a fake one). */
  now?: () => number;
  /** Label before each line. */
  label?: string;
}

const BAR_WIDTH = 24;
const TTY_INTERVAL_MS = 100;
const LOG_INTERVAL_MS = 30_000;
const LOG_STEP = 0.1;

const silent: Progress = { update: () => undefined, done: () => undefined };

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function bar(fraction: number): string {
  const filled = Math.round(fraction * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
}

export function createProgress(sink: ProgressSink, options: ProgressOptions = {}): Progress {
  if (options.quiet) return silent;
  const now = options.now ?? (() => performance.now());
  const label = options.label ?? 'lora-lego';
  const start = now();
  /** done() may be called on success and again in a finally block; only the first counts. */
  let finished = false;
  const clamp = (f: number): number => (Number.isFinite(f) ? Math.min(1, Math.max(0, f)) : 0);

  if (sink.isTTY) {
    let lastDraw = -Infinity;
    let drawn = false;
    const draw = (fraction: number, message: string): void => {
      const line = `${label} ${bar(fraction)} ${(fraction * 100).toFixed(0).padStart(3)}%  ${seconds(now() - start)}  ${message}`;
      const width = Math.max(20, (sink.columns ?? 80) - 1);
      // \x1b[2K clears the rest of a longer previous line.
      sink.write(`\r\x1b[2K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
      drawn = true;
    };
    return {
      update(fraction, message) {
        if (finished) return;
        const t = now();
        const f = clamp(fraction);
        if (t - lastDraw < TTY_INTERVAL_MS && f < 1) return;
        lastDraw = t;
        draw(f, message);
      },
      done(message) {
        if (finished) return;
        finished = true;
        if (message !== undefined) draw(1, message);
        if (drawn) sink.write('\n');
      },
    };
  }

  let nextStep = LOG_STEP;
  let lastLine = start;
  return {
    update(fraction, message) {
      if (finished) return;
      const t = now();
      const f = clamp(fraction);
      if (f + 1e-9 < nextStep && t - lastLine < LOG_INTERVAL_MS) return;
      while (nextStep <= f + 1e-9) nextStep += LOG_STEP;
      lastLine = t;
      sink.write(`${label}: ${(f * 100).toFixed(0).padStart(3)}% after ${seconds(t - start)}: ${message}\n`);
    },
    done(message) {
      if (finished) return;
      finished = true;
      if (message !== undefined) sink.write(`${label}: done in ${seconds(now() - start)}: ${message}\n`);
    },
  };
}
