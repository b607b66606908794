#!/usr/bin/env node
// Runs every benchmark in bench/ one after the other (each in its own process, so peak-memory
// figures are per benchmark). `npm run bench -- matmul` runs only those whose name matches.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
const benches = readdirSync(new URL('../bench/', import.meta.url))
  .filter((f) => f.endsWith('.ts') && (filters.length === 0 || filters.some((x) => f.includes(x))))
  .sort();
let failed = 0;
for (const b of benches) {
  console.log(`\n=== bench/${b}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', `bench/${b}`], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
