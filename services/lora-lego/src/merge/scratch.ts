/*
 * Reusable work buffers. Fresh memory costs ~4 ms per MB in page faults on the dev VM (measured:
 * a new 4 MB Float32Array touched once took ~13 ms, refilling a warm one 0.06 ms), which is more
 * than the arithmetic of a whole module, so the per-module temporaries of the merge (stacked or
 * transposed factors) come from here. A buffer is taken out while in use and put back after, so
 * merges running concurrently on one thread never share one: the second just allocates. At most
 * one buffer per length is kept (module shapes repeat: a 7B model has 3–4 distinct lengths), and
 * at most MAX_KEPT lengths, oldest dropped first.
 */
const MAX_KEPT = 16;
const free = new Map<number, Float32Array>();

/** A Float32Array of exactly `length` elements with unspecified contents. */
export function takeScratch(length: number): Float32Array {
  const b = free.get(length);
  if (b === undefined) return new Float32Array(length);
  free.delete(length);
  return b;
}

/** Returns a buffer from takeScratch; the caller must not use it afterwards. */
export function putScratch(buf: Float32Array): void {
  if (buf.length === 0 || buf.byteOffset !== 0 || buf.byteLength !== buf.buffer.byteLength) return;
  free.delete(buf.length);
  free.set(buf.length, buf);
  if (free.size > MAX_KEPT) free.delete(free.keys().next().value!);
}
