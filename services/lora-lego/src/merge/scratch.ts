/*
 * Reusable work buffers. Fresh memory costs ~4 ms per MB in page faults on the dev VM (measured:
 * a new 4 MB Float32Array touched once took ~13 ms, refilling a warm one 0.06 ms), which is more
 * than the arithmetic of a whole module, so the per-module temporaries of the merge (stacked or
 * transposed factors) come from here. A buffer is taken out while in use and put back after, so
 * merges running concurrently on one thread never share one: the second just allocates.
 *
 * Several buffers of one length are kept (MAX_PER_LENGTH): one merge can need two of the same
 * length at once (the stacked Bᵀ and B of a module, or A and Bᵀ of a square module), and with
 * one per length the second was allocated fresh on every module. Module shapes repeat (a 7B
 * model has 3–4 distinct lengths), so the pool stays small; it holds at most MAX_KEPT_BYTES,
 * least recently returned dropped first.
 */
const MAX_PER_LENGTH = 4;
const MAX_KEPT_BYTES = 128 * 2 ** 20;
/** Buffers by length; Map order is the order lengths were last returned to. */
const free = new Map<number, Float32Array[]>();
let keptBytes = 0;

/** A Float32Array of exactly `length` elements with unspecified contents. */
export function takeScratch(length: number): Float32Array {
  const list = free.get(length);
  const b = list?.pop();
  if (b === undefined) return new Float32Array(length);
  keptBytes -= b.byteLength;
  if (list!.length === 0) free.delete(length);
  return b;
}

/** Returns a buffer from takeScratch; the caller must not use it afterwards. */
export function putScratch(buf: Float32Array): void {
  if (buf.length === 0 || buf.byteOffset !== 0 || buf.byteLength !== buf.buffer.byteLength || buf.byteLength > MAX_KEPT_BYTES) return;
  const list = free.get(buf.length) ?? [];
  free.delete(buf.length);
  free.set(buf.length, list);
  if (list.includes(buf)) return;
  if (list.length >= MAX_PER_LENGTH) keptBytes -= list.shift()!.byteLength;
  list.push(buf);
  keptBytes += buf.byteLength;
  while (keptBytes > MAX_KEPT_BYTES) {
    const [oldLength, oldList] = free.entries().next().value!;
    const dropped = oldList.shift()!;
    keptBytes -= dropped.byteLength;
    if (oldList.length === 0) free.delete(oldLength);
  }
}

/*
 * The dense methods' merged ΔW (up to dOut·dIn = 45M F32 = 180 MB for a 7B MLP module) is one
 * buffer per module, far above the pool's limit: up to two backing buffers are kept apart for it (the
 * largest returned, up to MAX_LARGE_BYTES each) and smaller modules take a view of its start. A
 * merge in progress holds it; a concurrent one allocates its own.
 */
const MAX_LARGE_BYTES = 256 * 2 ** 20;
/** The trim methods hold two at once (the merged ΔW and one whole ΔW_i). */
const MAX_LARGE_KEPT = 2;
const large: ArrayBuffer[] = [];

/** A Float32Array of exactly `length` elements with unspecified contents, possibly a view of a kept large buffer. */
export function takeLarge(length: number): Float32Array {
  const at = large.findIndex((b) => b.byteLength >= length * 4);
  if (at < 0) return new Float32Array(length);
  const [kept] = large.splice(at, 1);
  return new Float32Array(kept!, 0, length);
}

/** Returns a buffer from takeLarge; the caller must not use it afterwards. Keeps the largest ones. */
export function putLarge(buf: Float32Array): void {
  const backing = buf.buffer;
  if (!(backing instanceof ArrayBuffer) || backing.byteLength > MAX_LARGE_BYTES || large.includes(backing)) return;
  large.push(backing);
  large.sort((x, y) => y.byteLength - x.byteLength);
  if (large.length > MAX_LARGE_KEPT) large.pop();
}
