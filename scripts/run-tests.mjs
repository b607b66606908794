#!/usr/bin/env node
// Runs every package's tests with node's test runner through tsx.
// Usage: npm test [-- path-filter ...]   e.g. `npm test -- libs/store`
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const roots = ['libs', 'services', 'test'];
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.') || name === 'dist' || name === 'fixtures') continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walk(p);
    else if (/\.test\.ts$/.test(name)) files.push(relative(root, p));
  }
}
for (const r of roots) {
  try { walk(join(root, r)); } catch { /* folder may not exist yet */ }
}
const filters = process.argv.slice(2);

// The whole suite (no filter) also runs the static checks CI depends on, so that
// `npm test` alone tells whether a change can land.
function step(title, cmd, args) {
  console.log(`# ${title}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`# ${title} failed`);
    process.exit(r.status ?? 1);
  }
}
if (filters.length === 0) {
  step('typecheck (tsc -p tsconfig.json)', process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
  step('openapi documents up to date', process.execPath, ['--import', 'tsx', 'scripts/openapi.ts', 'check']);
}
const selected = files.filter((f) => filters.length === 0 || filters.some((x) => f.includes(x))).sort();
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const args = [
  '--import', 'tsx',
  '--test',
  `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`,
  '--test-timeout=600000',
  ...selected,
];
const res = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } });
process.exit(res.status ?? 1);
