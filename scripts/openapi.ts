/**
 * Generates and checks the OpenAPI documents under `openapi/`.
 *
 *   npm run openapi          (node --import tsx scripts/openapi.ts write)
 *   npm run openapi:check    (node --import tsx scripts/openapi.ts check)
 *   options: --root <dir>    repository root (default: this script's repository)
 *
 * Convention: every folder `services/<name>/` with a `src/app.ts` is a service, and that module
 * exports `buildOpenApi(): object | Promise<object>`, which builds the service's routes and
 * returns `generateOpenApi(service)` (from `@weightsmith/http`) WITHOUT listening, loading
 * models or connecting to a store. Its document is written to `openapi/<name>.yaml`
 * (deterministic YAML, so an unchanged service regenerates byte-identically).
 *
 * `write` updates changed files and removes files of services that no longer exist.
 * `check` changes nothing and exits 1 listing stale, missing and orphaned files (CI runs it so a
 * schema change without a regenerated document fails). With no services both succeed.
 */
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkOpenApiFiles, discoverServices, writeOpenApiFiles } from '@weightsmith/http';

async function main(argv: string[]): Promise<number> {
  const command = argv[0];
  const rootAt = argv.indexOf('--root');
  const root = rootAt >= 0 && argv[rootAt + 1] ? argv[rootAt + 1]! : fileURLToPath(new URL('..', import.meta.url));
  if (command !== 'write' && command !== 'check') {
    console.error('usage: scripts/openapi.ts write|check [--root <dir>]');
    return 2;
  }
  const outDir = join(root, 'openapi');
  const services = await discoverServices(root);
  const show = (file: string): string => relative(root, file);
  if (services.length === 0) console.log('no services found (services/*/src/app.ts); nothing to generate');

  if (command === 'write') {
    const { written, removed } = await writeOpenApiFiles(outDir, services);
    for (const f of written) console.log(`wrote ${show(f)}`);
    for (const f of removed) console.log(`removed ${show(f)} (no such service)`);
    if (services.length > 0 && written.length === 0 && removed.length === 0) console.log('OpenAPI documents are up to date');
    return 0;
  }
  const result = await checkOpenApiFiles(outDir, services);
  for (const f of result.stale) console.error(`stale:    ${show(f)}`);
  for (const f of result.missing) console.error(`missing:  ${show(f)}`);
  for (const f of result.orphaned) console.error(`orphaned: ${show(f)} (no such service)`);
  if (!result.ok) {
    console.error('OpenAPI documents are out of date: run `npm run openapi`');
    return 1;
  }
  console.log(`OpenAPI documents are up to date (${services.length} service${services.length === 1 ? '' : 's'})`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
