import { invalidInput } from '@weightsmith/core';

/**
 * A small least-recently-used cache (used for class embeddings: key = encoder + prompt, value =
 * the embedding). A Map keeps insertion order, so re-inserting on every hit makes its first key
 * the least recently used one. Values are stored as given; callers must not mutate them.
 */
export class LruCache<V = Float32Array> {
  private readonly entries = new Map<string, V>();
  readonly maxEntries: number;

  constructor(maxEntries: number) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw invalidInput('maxEntries', `maxEntries must be a positive integer, got ${String(maxEntries)}`);
    }
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The value for key, marking it most recently used; undefined on a miss. */
  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  /** Stores key → value as most recently used, evicting the least recently used entry when full. */
  set(key: string, value: V): void {
    if (this.entries.has(key)) this.entries.delete(key);
    else if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, value);
  }

  delete(key: string): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  /** Keys from least to most recently used. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  /** The cached value, or computes it (once per miss) with `make`, stores and returns it. */
  async getOrCompute(key: string, make: () => Promise<V>): Promise<V> {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    const value = await make();
    this.set(key, value);
    return value;
  }
}
