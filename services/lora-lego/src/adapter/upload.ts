/**
 * Adapter uploads (`POST /v1/adapters`): the request body is streamed to a temporary folder
 * (size-capped), validated completely — config schema, safetensors header, LoRA key structure
 * and shapes, and every factor value for NaN/Inf (one module at a time; the bytes are already
 * on local disk, so this costs one read of the file) — and re-packed unchanged into the
 * deterministic tar that is the adapter artifact. The same two files therefore give the same
 * artifact id whether they came as a tar (any tar tool, any order, in a folder or not) or as
 * multipart.
 *
 * Accepted bodies:
 *  - `application/x-tar` (or `application/tar`): a tar with `adapter_config.json` and
 *    `adapter_model.safetensors`, at the top level or inside one folder;
 *  - `multipart/form-data` with two file parts. A part is recognised by its field name or
 *    its filename: `adapter_config.json` or `config` for the config, `adapter_model.safetensors`
 *    or `weights` for the weights. Other parts are refused.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { ErrorCode, WeightsmithError, byteLimit, invalidFormat, invalidInput } from '@weightsmith/core';
import { openFileSource } from '@weightsmith/safetensors';
import { CONFIG_FILE } from './peft-config.js';
import { MAX_CONFIG_BYTES, WEIGHTS_FILE, openPeftAdapter, openPeftAdapterTar, type PeftAdapter } from './peft-adapter.js';
import { createAdapterTarFromFiles } from './peft-writer.js';

export interface AdapterUploadOptions {
  /** Where the temporary folder is made (default: the OS temp dir). */
  tempDir?: string;
  /** Largest accepted body, in bytes (default 8 GiB). */
  maxBytes?: number;
  /** Check every factor value for NaN/Inf before accepting (default true). */
  scanValues?: boolean;
}

export interface AdapterUpload {
  /** The validated adapter, opened over the temporary files. */
  adapter: PeftAdapter;
  /** The deterministic tar, ready for `ArtifactStore.put({ path: tarPath }, …)`. */
  tarPath: string;
  tarBytes: number;
  /** Closes the adapter and removes the temporary folder. Idempotent. */
  cleanup(): Promise<void>;
}

const DEFAULT_MAX_BYTES = 8 * 2 ** 30;


function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

export async function parseAdapterUpload(
  body: Readable,
  contentType: string | undefined,
  options: AdapterUploadOptions = {},
): Promise<AdapterUpload> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const type = mediaTypeOf(contentType);
  if (type !== 'application/x-tar' && type !== 'application/tar' && type !== 'multipart/form-data') {
    throw invalidInput(
      'content-type',
      `upload an adapter as application/x-tar or multipart/form-data (parts adapter_config.json and adapter_model.safetensors), got ${JSON.stringify(contentType ?? '')}`,
    );
  }
  const dir = await mkdtemp(join(options.tempDir ?? tmpdir(), 'adapter-upload-'));
  let adapter: PeftAdapter | undefined;
  const cleanup = async (): Promise<void> => {
    await adapter?.close().catch(() => undefined);
    adapter = undefined;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    if (type === 'multipart/form-data') {
      const { config, weights } = await receiveMultipart(body, contentType!, dir, maxBytes);
      adapter = await openPeftAdapter({ config: await readFile(config), weights: await openFileSource(weights), label: 'upload' });
    } else {
      const path = join(dir, 'upload.tar');
      await pipeline(body, byteLimit(maxBytes, 'the tar'), createWriteStream(path, { flags: 'wx' }));
      adapter = await openPeftAdapterTar(await openFileSource(path), { label: 'uploaded tar', maxFileBytes: maxBytes });
    }
    if (options.scanValues ?? true) {
      for (const m of adapter.modules) await adapter.readModule(m.name);
    }
    const source = adapter.weights.source;
    const tar = createAdapterTarFromFiles(adapter.configBytes, { size: source.size, open: () => source.stream(0, source.size) });
    const tarPath = join(dir, 'adapter.tar');
    await pipeline(tar.stream, createWriteStream(tarPath, { flags: 'wx' }));
    return { adapter, tarPath, tarBytes: tar.bytes, cleanup };
  } catch (err) {
    body.resume(); // let the client finish sending so it can read the error response
    await cleanup();
    throw err;
  }
}

const CONFIG_PARTS = new Set([CONFIG_FILE, 'config']);
const WEIGHTS_PARTS = new Set([WEIGHTS_FILE, 'weights']);

function receiveMultipart(body: Readable, contentType: string, dir: string, maxBytes: number): Promise<{ config: string; weights: string }> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      // One over what is accepted: busboy signals a limit once it is reached, while a third
      // part gets its own precise error in the 'file' handler.
      parser = busboy({ headers: { 'content-type': contentType }, limits: { files: 3, fields: 1, parts: 3, fileSize: maxBytes } });
    } catch (cause) {
      reject(new WeightsmithError(ErrorCode.InvalidInput, `bad multipart content type: ${(cause as Error).message}`, { field: 'content-type', cause }));
      return;
    }
    const paths: { config?: string; weights?: string } = {};
    const writes: Promise<void>[] = [];
    let failed: unknown;
    const fail = (err: unknown): void => {
      failed ??= err;
    };
    parser.on('file', (name, stream, info) => {
      const which = CONFIG_PARTS.has(name) || CONFIG_PARTS.has(info.filename ?? '') ? 'config' : WEIGHTS_PARTS.has(name) || WEIGHTS_PARTS.has(info.filename ?? '') ? 'weights' : undefined;
      if (which === undefined || paths[which] !== undefined || failed) {
        if (!failed) {
          fail(
            which === undefined
              ? invalidInput(`body.${name}`, `unexpected multipart file part "${name}" (expected ${CONFIG_FILE} and ${WEIGHTS_FILE})`)
              : invalidInput(`body.${name}`, `multipart part for ${which === 'config' ? CONFIG_FILE : WEIGHTS_FILE} appears twice`),
          );
        }
        stream.resume();
        return;
      }
      const path = join(dir, which === 'config' ? CONFIG_FILE : WEIGHTS_FILE);
      paths[which] = path;
      const cap = which === 'config' ? MAX_CONFIG_BYTES : maxBytes;
      writes.push(
        pipeline(stream, byteLimit(cap, `multipart part "${name}"`), createWriteStream(path, { flags: 'wx' })).catch((err: unknown) => {
          fail(err);
          stream.resume();
        }),
      );
      stream.on('limit', () => fail(new WeightsmithError(ErrorCode.TooLarge, `multipart part "${name}" is over the upload limit`, { field: `body.${name}` })));
    });
    parser.on('field', (name) => fail(invalidInput(`body.${name}`, `unexpected multipart field "${name}": send the adapter files as file parts`)));
    parser.on('filesLimit', () => fail(invalidInput('body', `too many multipart files: send exactly ${CONFIG_FILE} and ${WEIGHTS_FILE}`)));
    parser.on('partsLimit', () => fail(invalidInput('body', `too many multipart parts: send exactly ${CONFIG_FILE} and ${WEIGHTS_FILE}`)));
    parser.on('fieldsLimit', () => fail(invalidInput('body', 'multipart text fields are not accepted')));
    parser.on('error', (err: unknown) => {
      fail(invalidFormat(`malformed multipart body: ${(err as Error).message}`, 'body'));
      void Promise.allSettled(writes).then(() => reject(failed));
    });
    parser.on('close', () => {
      void Promise.allSettled(writes).then(() => {
        if (failed) return reject(failed);
        if (!paths.config) return reject(invalidInput(`body.${CONFIG_FILE}`, `the multipart body has no ${CONFIG_FILE} part (or "config")`));
        if (!paths.weights) return reject(invalidInput(`body.${WEIGHTS_FILE}`, `the multipart body has no ${WEIGHTS_FILE} part (or "weights")`));
        resolve({ config: paths.config, weights: paths.weights });
      });
    });
    body.on('error', (err) => {
      fail(err);
      parser.destroy(err);
    });
    body.pipe(parser);
  });
}
