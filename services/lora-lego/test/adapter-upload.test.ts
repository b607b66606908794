import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { isWeightsmithError } from '@weightsmith/core';
import { serializeTar } from '../src/tar/index.js';
import { parseAdapterUpload } from '../src/adapter/index.js';
import { Q, QB, enc, f32, key, simpleAdapter, weights } from './adapter-fixtures.js';

function multipart(parts: Array<{ name: string; filename?: string; body: Uint8Array }>): { body: Readable; type: string } {
  const boundary = 'xXxBOUNDARYxXx';
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}\r\nContent-Type: application/octet-stream\r\n\r\n`));
    chunks.push(Buffer.from(p.body), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Readable.from([Buffer.concat(chunks)]), type: `multipart/form-data; boundary=${boundary}` };
}

const sha = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

describe('adapter uploads', () => {
  test('tar and multipart uploads of the same files give the same deterministic tar', async () => {
    const { config, weights: w } = await simpleAdapter();
    const c = enc(JSON.stringify(config));
    // a user's tar: other order, in a folder, with an extra file
    const userTar = await serializeTar([
      { name: 'my-adapter/README.md', size: 2, body: enc('hi') },
      { name: 'my-adapter/adapter_model.safetensors', size: w.length, body: w },
      { name: 'my-adapter/adapter_config.json', size: c.length, body: c },
    ]);
    const fromTar = await parseAdapterUpload(Readable.from([Buffer.from(userTar)]), 'application/x-tar');
    const mp = multipart([
      { name: 'config', filename: 'adapter_config.json', body: c },
      { name: 'weights', body: w },
    ]);
    const fromMultipart = await parseAdapterUpload(mp.body, mp.type);
    try {
      assert.deepEqual([...(await fromTar.adapter.readModule(Q)).B], QB);
      assert.equal(await sha(fromTar.tarPath), await sha(fromMultipart.tarPath));
      assert.equal((await readFile(fromTar.tarPath)).length, fromTar.tarBytes);
    } finally {
      await fromTar.cleanup();
      await fromMultipart.cleanup();
    }
    await assert.rejects(access(fromTar.tarPath)); // temp files removed
  });

  const bad = async (p: Promise<unknown>, code: string, re: RegExp) =>
    assert.rejects(p, (e: unknown) => isWeightsmithError(e) && e.code === code && re.test(e.message));

  test('wrong content type', async () => {
    await bad(parseAdapterUpload(Readable.from([Buffer.from('x')]), 'application/json'), 'invalid_input', /application\/x-tar or multipart/);
  });
  test('missing weights part', async () => {
    const { config } = await simpleAdapter();
    const mp = multipart([{ name: 'adapter_config.json', body: enc(JSON.stringify(config)) }]);
    await bad(parseAdapterUpload(mp.body, mp.type), 'invalid_input', /no adapter_model.safetensors part/);
  });
  test('unexpected part', async () => {
    const mp = multipart([{ name: 'model.bin', filename: 'model.bin', body: enc('x') }]);
    await bad(parseAdapterUpload(mp.body, mp.type), 'invalid_input', /unexpected multipart file part "model.bin"/);
  });
  test('size cap', async () => {
    const { config, weights: w } = await simpleAdapter();
    const mp = multipart([
      { name: 'config', body: enc(JSON.stringify(config)) },
      { name: 'weights', body: w },
    ]);
    await bad(parseAdapterUpload(mp.body, mp.type, { maxBytes: 64 }), 'too_large', /over the upload limit|larger than/);
  });
  test('NaN values are found at upload', async () => {
    const { config } = await simpleAdapter();
    const w = await weights([
      { name: key(Q, 'A'), dtype: 'F32', shape: [2, 3], bytes: f32([1, 2, 3, 4, 5, Infinity]) },
      { name: key(Q, 'B'), dtype: 'F32', shape: [2, 2], bytes: f32(QB) },
    ]);
    const mp = multipart([
      { name: 'adapter_config.json', body: enc(JSON.stringify(config)) },
      { name: 'adapter_model.safetensors', body: w },
    ]);
    await bad(parseAdapterUpload(mp.body, mp.type), 'non_finite', /lora_A.weight" has a non-finite value/);
  });
  test('a tar that is not an adapter', async () => {
    await bad(parseAdapterUpload(Readable.from([Buffer.from(new Uint8Array(1024))]), 'application/x-tar'), 'invalid_format', /no adapter_config.json/);
  });
});
