/**
 * The bundles a service serves, by name. Loading a root (a folder of bundle folders, or a store
 * prefix of bundle prefixes) keeps every bundle that passes validation and reports the others,
 * so one broken bundle never takes the service down.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ErrorCode, WeightsmithError, isWeightsmithError, notFound } from '@weightsmith/core';
import type { ObjectStore } from '@weightsmith/store';
import { normalizePrefix, prefixUri } from '@weightsmith/text';
import { loadBundle, type BundleSource, type LoadBundleOptions, type LoadedBundle } from './load-bundle.js';

export interface BundleLoadFailure {
  /** Folder path or store URI of the rejected bundle. */
  location: string;
  error: WeightsmithError;
}

export type BundleRootSource = { dir: string } | { store: ObjectStore; prefix: string };

export class BundleRegistry {
  private readonly bundles = new Map<string, LoadedBundle>();

  /**
   * Loads every bundle directly under a root, or under several roots in turn (entries holding a
   * bundle.json; others are not bundles and are left alone). Bundles are visited root by root, in
   * name order, so with duplicate names the first wins and the later one is reported.
   */
  static async loadRoot(root: BundleRootSource | readonly BundleRootSource[], opts: LoadBundleOptions = {}): Promise<{ registry: BundleRegistry; failures: BundleLoadFailure[] }> {
    const registry = new BundleRegistry();
    const failures: BundleLoadFailure[] = [];
    const roots = Array.isArray(root) ? root : [root as BundleRootSource];
    const sources = (await Promise.all(roots.map((r) => listBundleSources(r)))).flat();
    for (const { source, location } of sources) {
      try {
        registry.add(await loadBundle(source, opts));
      } catch (err) {
        const error = isWeightsmithError(err)
          ? err
          : new WeightsmithError(ErrorCode.InvalidFormat, `bundle ${location} could not be loaded: ${(err as Error).message}`, { cause: err });
        failures.push({ location, error });
      }
    }
    return { registry, failures };
  }

  /** Adds a loaded bundle; a second bundle with the same name is a conflict. */
  add(bundle: LoadedBundle): void {
    const existing = this.bundles.get(bundle.name);
    if (existing !== undefined) {
      throw new WeightsmithError(ErrorCode.Conflict, `bundle ${bundle.location} is named "${bundle.name}", which ${existing.location} already uses`, {
        field: 'bundle.json.name',
      });
    }
    this.bundles.set(bundle.name, bundle);
  }

  get(name: string): LoadedBundle {
    const b = this.bundles.get(name);
    if (b === undefined) throw notFound(`no bundle named "${name}"; loaded: ${this.names().join(', ') || 'none'}`, 'bundle');
    return b;
  }

  has(name: string): boolean {
    return this.bundles.has(name);
  }

  names(): string[] {
    return [...this.bundles.keys()].sort();
  }

  list(): LoadedBundle[] {
    return this.names().map((n) => this.bundles.get(n)!);
  }

  get size(): number {
    return this.bundles.size;
  }
}

async function listBundleSources(root: BundleRootSource): Promise<{ source: BundleSource; location: string }[]> {
  if ('dir' in root) {
    const dir = resolve(root.dir);
    const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    const out: { source: BundleSource; location: string }[] = [];
    for (const name of entries) {
      const path = join(dir, name);
      if ((await stat(join(path, 'bundle.json')).catch(() => undefined)) !== undefined) out.push({ source: { dir: path }, location: path });
    }
    return out;
  }
  const prefix = normalizePrefix(root.prefix);
  const names = new Set<string>();
  let token: string | undefined;
  do {
    const page = await root.store.list({ prefix, ...(token !== undefined ? { token } : {}) });
    for (const item of page.items) {
      const rest = item.key.slice(prefix.length).split('/');
      if (rest.length === 2 && rest[1] === 'bundle.json') names.add(rest[0]!);
    }
    token = page.nextToken;
  } while (token !== undefined);
  return [...names].sort().map((name) => ({
    source: { store: root.store, prefix: `${prefix}${name}/` },
    location: prefixUri(root.store, `${prefix}${name}/`),
  }));
}
