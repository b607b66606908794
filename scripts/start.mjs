#!/usr/bin/env node
// Runs every service in services/* on the embedded default: one folder store (./data) shared by
// all, the demo models from ./models, ports 8081 (t2w), 8082 (lora-lego), 8083 (adafusion).
// Each service's own environment still applies (WEIGHTSMITH_STORE=s3 … to use MinIO/S3);
// T2W_PORT, LORA_LEGO_PORT, ADAFUSION_PORT move a service. Ctrl-C stops all of them gracefully.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const services = [
  { name: 't2w', port: 8081 },
  { name: 'lora-lego', port: 8082 },
  { name: 'adafusion', port: 8083 },
].filter((s) => existsSync(join(root, 'services', s.name, 'src', 'main.ts')));

const children = services.map(({ name, port }) => {
  const envKey = `${name.toUpperCase().replace(/-/g, '_')}_PORT`;
  const child = spawn(process.execPath, ['--import', 'tsx', join('services', name, 'src', 'main.ts')], {
    cwd: root,
    env: { STORE_DIR: join(root, 'data'), ...process.env, PORT: process.env[envKey] ?? String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${name} exited (${signal ?? code}); stopping the others`);
      stop(code || 1);
    }
  });
  console.log(`${name}: http://localhost:${process.env[envKey] ?? port} (OpenAPI at /openapi.json)`);
  return child;
});

let stopping = false;
function stop(code = 0) {
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.on('exit', r)) : null))).then(() => process.exit(code));
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
