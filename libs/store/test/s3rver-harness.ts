import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

/**
 * A real S3 API server (s3rver) on loopback for tests, with its own temp folder and one bucket.
 * Other packages' tests import this by relative path:
 *   `import { startS3rver } from '../../../libs/store/test/s3rver-harness.js'`.
 * s3rver accepts the fixed credentials S3RVER/S3RVER. It implements no multipart listing, so
 * keep objects under the minio client's part size (64 MiB).
 */
export interface S3rverHandle {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** Stops the server (dropping open connections) and removes its folder. Safe to call twice. */
  stop(): Promise<void>;
}

export async function startS3rver(options: { bucket?: string } = {}): Promise<S3rverHandle> {
  const bucket = options.bucket ?? 'weightsmith-test';
  const directory = await mkdtemp(join(tmpdir(), 'ws-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const address = await server.run();
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    bucket,
    async stop() {
      if (stopped) return;
      stopped = true;
      // close() waits for keep-alive connections; drop them so a stop is immediate.
      const http = (server as unknown as { httpServer?: Server }).httpServer;
      const closing = server.close();
      http?.closeAllConnections();
      await closing;
      await rm(directory, { recursive: true, force: true });
    },
  };
}
