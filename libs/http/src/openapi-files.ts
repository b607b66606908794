import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';

/**
 * The checked-in OpenAPI files: `openapi/<service>.yaml`, one per service, rendered
 * deterministically so that regenerating unchanged services is byte-identical and `check` can
 * compare text.
 */
export interface OpenApiServiceEntry {
  /** Folder name under `services/`, which names the file. */
  name: string;
  build: () => object | Promise<object>;
}

export interface OpenApiCheckResult {
  ok: boolean;
  /** Files whose content differs from what the service generates now. */
  stale: string[];
  /** Services without a file. */
  missing: string[];
  /** Files without a service. */
  orphaned: string[];
}

export function renderOpenApiYaml(document: object, serviceName: string): string {
  const header = `# Generated from the zod schemas of services/${serviceName} by \`npm run openapi\`; do not edit.\n`;
  // No anchors/aliases for repeated objects, no line folding: plain, diff-friendly YAML.
  return header + stringify(document, { aliasDuplicateObjects: false, lineWidth: 0, sortMapEntries: false });
}

/**
 * Services are folders `services/<name>/` whose `src/app.ts` exports
 * `buildOpenApi(): object | Promise<object>`, returning the document WITHOUT listening or
 * connecting to anything (typically `createService(...)`, register routes, `generateOpenApi`).
 */
export async function discoverServices(root: string): Promise<OpenApiServiceEntry[]> {
  const servicesDir = join(root, 'services');
  let names: string[];
  try {
    names = (await readdir(servicesDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const entries: OpenApiServiceEntry[] = [];
  for (const name of names.sort()) {
    const appFile = join(servicesDir, name, 'src', 'app.ts');
    if (!(await isFile(appFile))) continue;
    entries.push({
      name,
      build: async () => {
        const mod = (await import(pathToFileURL(appFile).href)) as { buildOpenApi?: unknown };
        if (typeof mod.buildOpenApi !== 'function') {
          throw new Error(`${appFile} must export buildOpenApi(): object (the service's OpenAPI document)`);
        }
        return (await (mod.buildOpenApi as () => unknown)()) as object;
      },
    });
  }
  return entries;
}

/** Writes every service's file (only when changed) and removes files of services that are gone. */
export async function writeOpenApiFiles(outDir: string, services: readonly OpenApiServiceEntry[]): Promise<{ written: string[]; removed: string[] }> {
  await mkdir(outDir, { recursive: true });
  const written: string[] = [];
  for (const service of services) {
    const file = join(outDir, `${service.name}.yaml`);
    const text = renderOpenApiYaml(await service.build(), service.name);
    if ((await readIfExists(file)) !== text) {
      await writeFile(file, text);
      written.push(file);
    }
  }
  const removed = await orphans(outDir, services);
  for (const file of removed) await rm(file);
  return { written, removed };
}

export async function checkOpenApiFiles(outDir: string, services: readonly OpenApiServiceEntry[]): Promise<OpenApiCheckResult> {
  const stale: string[] = [];
  const missing: string[] = [];
  for (const service of services) {
    const file = join(outDir, `${service.name}.yaml`);
    const current = await readIfExists(file);
    if (current === undefined) missing.push(file);
    else if (current !== renderOpenApiYaml(await service.build(), service.name)) stale.push(file);
  }
  const orphaned = await orphans(outDir, services);
  return { ok: stale.length + missing.length + orphaned.length === 0, stale, missing, orphaned };
}

async function orphans(outDir: string, services: readonly OpenApiServiceEntry[]): Promise<string[]> {
  const expected = new Set(services.map((s) => `${s.name}.yaml`));
  let files: string[];
  try {
    files = await readdir(outDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return files.filter((f) => f.endsWith('.yaml') && !expected.has(f)).sort().map((f) => join(outDir, f));
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
