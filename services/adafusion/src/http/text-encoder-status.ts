/**
 * The main thread's view of the configured text encoder: none, loading, loaded (its id and
 * width), or failed (why). The encoder itself is only ever opened in task workers; here a probe
 * task says whether it loads.
 *
 * A configured encoder that does not load makes the service NOT READY (503 on /readyz naming
 * the setting and the reason), rather than refusing to start or quietly serving without it:
 * - an operator who set ADAFUSION_TEXT_ENCODER_DIR/PREFIX expects text-prompt fits to work, and
 *   a pod that never turns Ready stops a rolling update while the previous pods keep serving —
 *   the same protection a crash gives, but /readyz and the log say what is wrong, and the pod
 *   is not restarted in a loop;
 * - an encoder under an object-store prefix can fail only because the store is still starting
 *   (MinIO beside the service in the same rollout), so a failed load is retried (at most every
 *   `retryAfterMs`, when a readiness probe asks) and the pod turns Ready once it loads.
 * With no encoder configured the service is ready, and text-prompt fits get a 400 saying which
 * setting enables them.
 */
import { ErrorCode, invalidInput, isWeightsmithError, WeightsmithError } from '@weightsmith/core';
import type { ReadinessCheck } from '@weightsmith/http';
import { describeTextEncoderSource, type TextEncoderInfo, type TextEncoderSource } from '../pipeline/text-encoder.js';

type State =
  | { phase: 'none' }
  | { phase: 'loading'; previousFailure?: string }
  | { phase: 'loaded'; info: TextEncoderInfo }
  | { phase: 'failed'; message: string; at: number };

export interface TextEncoderStatusOptions {
  source: TextEncoderSource | undefined;
  /** Loads the encoder somewhere off the event loop and reports what loaded. */
  probe: (source: TextEncoderSource, signal: AbortSignal) => Promise<TextEncoderInfo>;
  logger: { info(details: object, message: string): void; error(details: object, message: string): void };
  /** Least time between two load attempts after a failure (default 30 s). */
  retryAfterMs?: number;
  now?: () => number;
}

export class TextEncoderStatus {
  private state: State;
  private readonly abort = new AbortController();
  private readonly retryAfterMs: number;
  private readonly now: () => number;

  constructor(private readonly options: TextEncoderStatusOptions) {
    this.state = options.source === undefined ? { phase: 'none' } : { phase: 'loading' };
    this.retryAfterMs = options.retryAfterMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /** The configured source, if any. */
  get source(): TextEncoderSource | undefined {
    return this.options.source;
  }

  /** What the probe found, once it loaded. */
  get info(): TextEncoderInfo | undefined {
    return this.state.phase === 'loaded' ? this.state.info : undefined;
  }

  /** Runs the probe (no-op without a source); never throws: the outcome is the state. */
  async load(): Promise<void> {
    const { source } = this.options;
    if (source === undefined || this.abort.signal.aborted) return;
    const setting = describeTextEncoderSource(source);
    this.state = { phase: 'loading', ...(this.state.phase === 'failed' ? { previousFailure: this.state.message } : {}) };
    try {
      const info = await this.options.probe(source, this.abort.signal);
      this.state = { phase: 'loaded', info };
      this.options.logger.info({ setting, encoder: info.id, dim: info.dim }, 'text encoder loaded');
    } catch (err) {
      if (this.abort.signal.aborted) return;
      const reason = err instanceof Error ? err.message : String(err);
      this.state = { phase: 'failed', message: `the text encoder ${setting} does not load: ${reason}`, at: this.now() };
      this.options.logger.error({ setting, err: reason, field: isWeightsmithError(err) ? err.field : undefined }, 'text encoder not loaded; the service is not ready');
    }
  }

  /** `text encoder` on /readyz: passes with no encoder configured or once it loaded. */
  readinessCheck(): ReadinessCheck {
    return {
      name: 'text encoder',
      check: async () => {
        const s = this.state;
        if (s.phase === 'none' || s.phase === 'loaded') return;
        if (s.phase === 'failed' && this.now() - s.at >= this.retryAfterMs) void this.load();
        throw this.notReady();
      },
    };
  }

  /**
   * For a fit with text prompts: the source to open in the task worker. 400 (naming `field`)
   * when no encoder is configured; 503 while it loads or when it failed to load.
   */
  requireLoaded(field: string): { source: TextEncoderSource; info: TextEncoderInfo } {
    const s = this.state;
    const { source } = this.options;
    if (source === undefined || s.phase === 'none') {
      throw invalidInput(
        field,
        "text prompts need a text encoder, and this service has none configured: set ADAFUSION_TEXT_ENCODER_DIR to a local folder with a CLIP-style text tower " +
          "(config.json, tokenizer.json, tokenizer_config.json, onnx/text_model.onnx; e.g. CONCH's or PLIP's text encoder exported to ONNX), " +
          "or ADAFUSION_TEXT_ENCODER_PREFIX to an object-store prefix holding one; or use context kind 'centroids' or 'learned'",
      );
    }
    if (s.phase === 'loaded') return { source, info: s.info };
    throw this.notReady();
  }

  /** Stops an in-flight probe (service shutdown). */
  close(): void {
    this.abort.abort();
  }

  private notReady(): WeightsmithError {
    const s = this.state;
    if (s.phase === 'failed') return new WeightsmithError(ErrorCode.NotReady, s.message, { retryAfter: Math.ceil(this.retryAfterMs / 1000) });
    const setting = this.options.source === undefined ? '' : ` (${describeTextEncoderSource(this.options.source)})`;
    const before = s.phase === 'loading' && s.previousFailure !== undefined ? `; the last attempt failed: ${s.previousFailure}` : '';
    return new WeightsmithError(ErrorCode.NotReady, `the text encoder${setting} is loading${before}`, { retryAfter: 5 });
  }
}
