import { Readable, Transform, type TransformCallback } from 'node:stream';
import { WeightsmithError, ErrorCode } from '@weightsmith/core';

/**
 * A put body reduced to one shape: a stream that yields exactly `size` bytes or fails.
 * Stores consume `stream` and never see the caller's original stream directly, so a body that is
 * too long or too short is caught in one place, the same way for every backend.
 */
export interface SizedBody {
  readonly size: number;
  readonly stream: Readable;
  /** The error the caller's stream failed with, if it was the cause of a failed put. */
  sourceError(): unknown;
  /** Releases the caller's stream without reading it (the put found nothing to write). */
  discard(): void;
}

function reject(field: string, message: string): never {
  throw new WeightsmithError(ErrorCode.InvalidInput, message, { field });
}

export function validateSize(size: unknown): number {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    reject('size', `size must be a non-negative integer, got ${String(size)}`);
  }
  return size;
}

/**
 * Passes bytes through while counting, and holds back the most recent chunk until the source
 * ends. Holding back matters for S3: the request declares `Content-Length: size`, so if the
 * first `size` bytes of an over-long stream were forwarded before the excess showed up, the
 * server would already hold a complete (wrong) object. With the last chunk held back, a failing
 * body never delivers its final byte.
 */
class ExactSizeTransform extends Transform {
  private received = 0;
  private pending: Buffer | undefined;

  constructor(private readonly expected: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    if (this.received > this.expected) {
      callback(sizeMismatch(this.expected, `more than ${this.expected}`));
      return;
    }
    if (this.pending !== undefined) this.push(this.pending);
    this.pending = chunk;
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.received !== this.expected) {
      callback(sizeMismatch(this.expected, String(this.received)));
      return;
    }
    if (this.pending !== undefined) this.push(this.pending);
    this.pending = undefined;
    callback();
  }
}

function sizeMismatch(expected: number, got: string): WeightsmithError {
  return new WeightsmithError(
    ErrorCode.InvalidInput,
    `body has ${got} bytes but size says ${expected}; nothing was stored`,
    { field: 'body' },
  );
}

export function toSizedBody(body: Uint8Array | Readable, size: number | undefined): SizedBody {
  if (body instanceof Uint8Array) {
    if (size !== undefined && validateSize(size) !== body.byteLength) {
      reject('size', `size ${size} does not match the ${body.byteLength}-byte body`);
    }
    const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    return {
      size: bytes.length,
      stream: Readable.from(bytes.length === 0 ? [] : [bytes]),
      sourceError: () => undefined,
      discard: () => undefined,
    };
  }
  if (!(body instanceof Readable)) reject('body', 'body must be a Uint8Array or a Readable stream');
  if (size === undefined) reject('size', 'size is required when the body is a stream');
  const expected = validateSize(size);
  let failure: unknown;
  const counter = new ExactSizeTransform(expected);
  // The caller's stream flows into the counter before the store starts reading it; an error in
  // that gap must not become an uncaught 'error' event. It stays recorded on the stream
  // (`errored`), so the store's later read or pipeline still fails with it.
  counter.on('error', () => undefined);
  body.once('error', (err) => {
    failure = err;
    counter.destroy(err);
  });
  body.pipe(counter);
  return {
    size: expected,
    stream: counter,
    sourceError: () => failure,
    discard: () => {
      body.unpipe(counter);
      counter.destroy();
      body.destroy();
    },
  };
}

/**
 * Turns a failure while reading the caller's body into invalid_input (field `body`), so that a
 * client that hung up mid-upload is not reported as a store outage.
 */
export function bodyFailure(body: SizedBody, err: unknown): WeightsmithError | undefined {
  if (err instanceof WeightsmithError && err.field === 'body') return err;
  const source = body.sourceError();
  if (source === undefined) return undefined;
  if (source instanceof WeightsmithError) return source;
  const message = source instanceof Error ? source.message : String(source);
  return new WeightsmithError(ErrorCode.InvalidInput, `reading the body failed: ${message}`, {
    field: 'body',
    cause: source,
  });
}

/** Reads a stream into one buffer; `expected` preallocates when the length is known. */
export async function readAll(stream: Readable, expected?: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    chunks.push(buf);
    total += buf.length;
  }
  if (expected !== undefined && total !== expected) {
    throw new WeightsmithError(ErrorCode.Internal, `read ${total} bytes where ${expected} were expected`);
  }
  const out = Buffer.concat(chunks, total);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
