/*
 * Magnitude trimming without sorting: the keep-th largest |v| of a Float32Array found by a
 * two-pass radix select on the F32 bit patterns (for non-negative floats the bit pattern orders
 * like the value), 2·N reads and two 65536-bin histograms, no copy of the data.
 */

/** Keeps the `keep` entries of largest magnitude (equal magnitudes: lowest index first), zeroes the rest, in place. */
export function keepTopMagnitude(values: Float32Array, keep: number): void {
  const n = values.length;
  if (keep >= n) return;
  if (keep <= 0) {
    values.fill(0);
    return;
  }
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  const hist = new Uint32Array(65536);
  for (let i = 0; i < n; i++) hist[(bits[i]! & 0x7fffffff) >>> 16]!++;
  let remaining = keep;
  let hi = 65535;
  for (; hi >= 0; hi--) {
    const h = hist[hi]!;
    if (h >= remaining) break;
    remaining -= h;
  }
  hist.fill(0);
  for (let i = 0; i < n; i++) {
    const b = bits[i]! & 0x7fffffff;
    if (b >>> 16 === hi) hist[b & 0xffff]!++;
  }
  let lo = 65535;
  for (; lo >= 0; lo--) {
    const h = hist[lo]!;
    if (h >= remaining) break;
    remaining -= h;
  }
  const threshold = ((hi << 16) | lo) >>> 0;
  let ties = remaining; // entries exactly at the threshold that still fit, in index order
  for (let i = 0; i < n; i++) {
    const b = bits[i]! & 0x7fffffff;
    if (b > threshold) continue;
    if (b === threshold && ties > 0) {
      ties--;
      continue;
    }
    values[i] = 0;
  }
}
