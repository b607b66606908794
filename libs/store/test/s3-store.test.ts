import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, test } from 'node:test';
import { Client } from 'minio';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import { S3Store, type S3StoreOptions } from '../src/s3-store.js';
import type { ObjectStore } from '../src/object-store.js';
import { patternBytes, rejectsWith, streamOf } from './helpers.js';
import { startS3rver, type S3rverHandle } from './s3rver-harness.js';

import { runObjectStoreContract } from './contract.js';
import { externalS3, makeS3Fixture, s3TargetName } from './s3-fixture.js';

runObjectStoreContract(s3TargetName, () => makeS3Fixture());
runObjectStoreContract(`${s3TargetName} with a prefix`, () => makeS3Fixture({ prefix: 'deploy-a/' }));

function storeFor(s3: S3rverHandle, options: Partial<S3StoreOptions> = {}): S3Store {
  return new S3Store({ endPoint: s3.endpoint, bucket: s3.bucket, accessKey: s3.accessKey, secretKey: s3.secretKey, ...options });
}

/** Fails (instead of hanging the suite) if an operation has not settled after `ms`. */
function settlesWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still pending after ${ms} ms: it hangs`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** Every operation that talks to the endpoint, each expected to fail the same way. */
function networkOps(store: ObjectStore): Array<[string, () => Promise<unknown>]> {
  const big = patternBytes(3 * 1024 * 1024, 4);
  return [
    ['put bytes', () => store.put('o/a', Buffer.from('a'))],
    ['put stream', () => store.put('o/b', streamOf([big]), { size: big.length })],
    ['put ifNoneMatch', () => store.put('o/c', Buffer.from('c'), { ifNoneMatch: true })],
    ['get', () => store.get('o/x')],
    ['get range', () => store.get('o/x', { offset: 1, length: 2 })],
    ['getBytes', () => store.getBytes('o/x')],
    ['stat', () => store.stat('o/x')],
    ['exists', () => store.exists('o/x')],
    ['list', () => store.list({ prefix: 'o/' })],
    ['delete', () => store.delete('o/x')],
    ['ping', () => store.ping()],
  ];
}

async function expectAllUnavailable(store: ObjectStore, guardMs: number): Promise<void> {
  for (const [name, op] of networkOps(store)) {
    await settlesWithin(
      assert.rejects(op, (err: unknown) => {
        assert.ok(isWeightsmithError(err, ErrorCode.StoreUnavailable), `${name}: expected store_unavailable, got ${String(err)}`);
        assert.ok((err.retryAfter ?? 0) > 0, `${name}: retryAfter missing`);
        return true;
      }),
      guardMs,
      name,
    );
  }
}

describe('S3Store (S3 specifics)', () => {
  test('outage: after the server stops, every operation is store_unavailable, not a hang', async () => {
    const s3 = await startS3rver();
    const store = await storeFor(s3).init();
    try {
      await store.put('o/x', Buffer.from('before the outage'));
      await s3.stop();
      await expectAllUnavailable(store, 10_000);
    } finally {
      await store.close();
      await s3.stop();
    }
  });

  test('a server that accepts connections but never answers times out as store_unavailable', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.pause(); // never read: uploads stall once the socket buffers are full
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const store = new S3Store({
      endPoint: `http://127.0.0.1:${port}`,
      bucket: 'bucket',
      accessKey: 'k',
      secretKey: 'secret-key',
      connectTimeoutMs: 200,
      responseTimeoutMs: 200,
      idleTimeoutMs: 300,
    });
    try {
      await expectAllUnavailable(store, 10_000);
      // A large upload the server never reads stalls mid-body: the idle timeout ends it.
      const huge = patternBytes(32 * 1024 * 1024, 5);
      await settlesWithin(rejectsWith(store.put('o/huge', streamOf([huge]), { size: huge.length }), ErrorCode.StoreUnavailable), 10_000, 'stalled upload');
    } finally {
      await store.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  test('5xx answers (SlowDown, InternalError) are store_unavailable', async () => {
    for (const [status, code] of [[503, 'SlowDown'], [500, 'InternalError']] as const) {
      const server = http.createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          res.writeHead(status, { 'content-type': 'application/xml' });
          res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>busy</Message></Error>`);
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as net.AddressInfo;
      const store = new S3Store({ endPoint: `http://127.0.0.1:${port}`, bucket: 'bucket', accessKey: 'k', secretKey: 'secret-key' });
      try {
        await expectAllUnavailable(store, 10_000);
      } finally {
        await store.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    }
  });

  test('wrong credentials are store_unavailable naming the cause', async () => {
    const s3 = await startS3rver();
    // s3rver checks the access key but does not verify SigV4 signatures.
    const store = storeFor(s3, { accessKey: 'NOT-A-KEY' });
    try {
      for (const op of [() => store.put('a', Buffer.from('a')), () => store.getBytes('a'), () => store.list(), () => store.ping()]) {
        await assert.rejects(op, (err: unknown) => {
          assert.ok(isWeightsmithError(err, ErrorCode.StoreUnavailable), String(err));
          assert.match(err.message, /SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId/);
          return true;
        });
      }
    } finally {
      await store.close();
      await s3.stop();
    }
  });

  test('init creates a missing bucket only when allowed', async () => {
    const s3 = await startS3rver();
    try {
      await rejectsWith(storeFor(s3, { bucket: 'not-there' }).init(), ErrorCode.StoreUnavailable);
      const created = await storeFor(s3, { bucket: 'made-by-init', createBucket: true }).init();
      await created.put('k', Buffer.from('v'));
      assert.equal(Buffer.from(await storeFor(s3, { bucket: 'made-by-init' }).getBytes('k')).toString(), 'v');
      await created.ping();
      // A second init of an existing bucket is fine.
      await storeFor(s3, { bucket: 'made-by-init', createBucket: true }).init();
    } finally {
      await s3.stop();
    }
  });

  test('the prefix places keys under it in the bucket; foreign keys are not listed', async () => {
    const s3 = await startS3rver();
    const url = new URL(s3.endpoint);
    const raw = new Client({ endPoint: url.hostname, port: Number(url.port), useSSL: false, accessKey: s3.accessKey, secretKey: s3.secretKey });
    try {
      const store = await storeFor(s3, { prefix: 'deploy-a' }).init();
      await store.put('w/x.bin', Buffer.from('x'), { contentType: 'application/x-safetensors' });
      const rawStat = await raw.statObject(s3.bucket, 'deploy-a/w/x.bin');
      assert.equal(rawStat.size, 1);
      assert.equal((await store.stat('w/x.bin')).contentType, 'application/x-safetensors');
      assert.equal(store.location, `s3://${s3.bucket}/deploy-a`);
      assert.equal(store.uri('w/x.bin'), `s3://${s3.bucket}/deploy-a/w/x.bin`);
      // Written by another tool, not addressable through this API: invisible to list().
      await raw.putObject(s3.bucket, 'deploy-a/.hidden/y', Buffer.from('y'));
      await raw.putObject(s3.bucket, 'deploy-a/w/bad\\name', Buffer.from('y'));
      await raw.putObject(s3.bucket, 'deploy-b/w/z', Buffer.from('z'));
      assert.deepEqual((await store.list()).items.map((i) => i.key), ['w/x.bin']);
      await store.close();
    } finally {
      await s3.stop();
    }
  });

  test('constructor rejects unusable endpoints', () => {
    const base = { bucket: 'bucket', accessKey: 'k', secretKey: 's' };
    for (const endPoint of ['not a url', 'ftp://host', 'http://host:9000/some/path']) {
      assert.throws(() => new S3Store({ ...base, endPoint }), (err: unknown) => isWeightsmithError(err, ErrorCode.InvalidInput) && err.field === 'endPoint');
    }
    assert.throws(() => new S3Store({ ...base, endPoint: 'http://h', secretKey: '' }), (err: unknown) => isWeightsmithError(err, ErrorCode.InvalidInput));
    for (const bucket of ['b', 'Upper', 'under_score', '-dash', 'a..b']) {
      assert.throws(() => new S3Store({ ...base, endPoint: 'http://h', bucket }), (err: unknown) => isWeightsmithError(err, ErrorCode.InvalidInput) && err.field === 'bucket');
    }
  });

  test(
    'ifNoneMatch across independent instances: the server’s conditional put lets exactly one win',
    { skip: externalS3 ? false : 's3rver ignores If-None-Match; set S3_ENDPOINT to a server that supports it (MinIO, AWS)' },
    async () => {
      const e = externalS3 as NonNullable<typeof externalS3>;
      const prefix = `weightsmith-test-race-${Date.now()}`;
      const stores = await Promise.all(
        Array.from({ length: 8 }, () =>
          new S3Store({ endPoint: e.endpoint, region: e.region, bucket: e.bucket, accessKey: e.accessKey, secretKey: e.secretKey, prefix, createBucket: true }).init(),
        ),
      );
      try {
        const bodies = stores.map((_, i) => patternBytes(2_000_000, 50 + i));
        const results = await Promise.all(stores.map((s, i) => s.put('race.bin', bodies[i] as Buffer, { ifNoneMatch: true })));
        const winners = results.flatMap((r, i) => (r.created ? [i] : []));
        assert.equal(winners.length, 1, `created by ${winners.join(',')}`);
        assert.deepEqual(Buffer.from(await stores[0]!.getBytes('race.bin')), bodies[winners[0]!]);
      } finally {
        await stores[0]!.delete('race.bin');
        for (const s of stores) await s.close();
      }
    },
  );
});
