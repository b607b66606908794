/*
 * Magnitude trimming without sorting: the keep-th largest |v| found by a two-pass radix select on
 * the F32 bit patterns (for non-negative floats the bit pattern orders like the value), two
 * 65536-bin histograms (high 16 bits, then the low 16 bits inside the one high bucket that holds
 * the cut), no copy of the data.
 *
 * The passes work on any sequence of blocks in index order (MagnitudeCut), so a matrix that is
 * produced block by block (the dense merge recomputes ΔW_i in row blocks) never has to exist
 * whole: feed every block to addHigh, call resolveHigh, every block to addLow, resolveLow, then
 * every block to trim, always in the same order.
 */

/** Streaming radix select of the `keep` largest magnitudes of a sequence of Float32 blocks. */
export class MagnitudeCut {
  private readonly hist = new Uint32Array(65536);
  /** Entries still to keep inside the bucket (after resolveHigh) or at the exact threshold (after resolveLow). */
  private remaining: number;
  private hi = -1;
  /** |v| bit pattern of the cut: entries above are kept, entries equal to it while `tiesLeft` > 0. */
  private threshold = 0;
  private tiesLeft = 0;
  /** keep ≤ 0 drops everything; keep ≥ the total count keeps everything, and the passes are not needed. */
  readonly all: boolean;
  readonly none: boolean;

  constructor(keep: number, total: number) {
    this.remaining = keep;
    this.all = keep >= total;
    this.none = keep <= 0;
  }

  addHigh(block: Float32Array): void {
    const bits = new Uint32Array(block.buffer, block.byteOffset, block.length);
    const hist = this.hist;
    for (let i = 0; i < bits.length; i++) hist[(bits[i]! & 0x7fffffff) >>> 16]!++;
  }

  resolveHigh(): void {
    let remaining = this.remaining;
    let hi = 65535;
    for (; hi >= 0; hi--) {
      const h = this.hist[hi]!;
      if (h >= remaining) break;
      remaining -= h;
    }
    this.hi = hi;
    this.remaining = remaining;
    this.hist.fill(0);
  }

  addLow(block: Float32Array): void {
    const bits = new Uint32Array(block.buffer, block.byteOffset, block.length);
    const hist = this.hist;
    const hi = this.hi;
    for (let i = 0; i < bits.length; i++) {
      const b = bits[i]! & 0x7fffffff;
      if (b >>> 16 === hi) hist[b & 0xffff]!++;
    }
  }

  resolveLow(): void {
    let remaining = this.remaining;
    let lo = 65535;
    for (; lo >= 0; lo--) {
      const h = this.hist[lo]!;
      if (h >= remaining) break;
      remaining -= h;
    }
    this.threshold = ((this.hi << 16) | lo) >>> 0;
    this.tiesLeft = remaining; // entries exactly at the threshold that still fit, in index order
  }

  /** Zeroes the entries of the next block that fall below the cut, in place. */
  trim(block: Float32Array): void {
    if (this.all) return;
    if (this.none) {
      block.fill(0);
      return;
    }
    const bits = new Uint32Array(block.buffer, block.byteOffset, block.length);
    const threshold = this.threshold;
    let ties = this.tiesLeft;
    for (let i = 0; i < bits.length; i++) {
      const b = bits[i]! & 0x7fffffff;
      if (b > threshold) continue;
      if (b === threshold && ties > 0) {
        ties--;
        continue;
      }
      bits[i] = 0;
    }
    this.tiesLeft = ties;
  }
}

/** Keeps the `keep` entries of largest magnitude (equal magnitudes: lowest index first), zeroes the rest, in place. */
export function keepTopMagnitude(values: Float32Array, keep: number): void {
  const cut = new MagnitudeCut(keep, values.length);
  if (!cut.all && !cut.none) {
    cut.addHigh(values);
    cut.resolveHigh();
    cut.addLow(values);
    cut.resolveLow();
  }
  cut.trim(values);
}
